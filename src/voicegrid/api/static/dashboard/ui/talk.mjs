// Talk to the draft from this page: the talk page's WebSocket (`/v1/talk`, PCM16 at 16 kHz both
// ways) with `draft: true`, signed in as the page is. The call is a trial: it goes through the same
// path, limits and record as any call (its record says `metadata.trial = "draft"`).
import { html, useEffect, useState } from "./common.mjs";

const RATE = 16000, FRAME = 320;

class Line {
  constructor(onState) { this.onState = onState; this.ws = null; this.audio = null; this.mic = null; this.sources = []; this.playAt = 0; }

  async open(token, agentId, beforeTalking) {
    await beforeTalking();  // the draft as it is on the page
    this.mic = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true } });
    this.audio = new AudioContext({ sampleRate: RATE });
    const source = this.audio.createMediaStreamSource(this.mic);
    const processor = this.audio.createScriptProcessor(1024, 1, 1);
    let pending = new Int16Array(0);
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/talk");
    this.ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      ws.send(JSON.stringify({ api_key: token, agent_id: agentId, draft: true }));
      this.onState({ talking: true, text: "Connected to the draft: talk now." });
    };
    ws.onclose = (event) => {
      this.release();
      const why = event.code === 1000 || event.code === 1005 ? "" : ` (${event.code}${event.reason ? ": " + event.reason : ""})`;
      this.onState({ talking: false, text: "Call ended" + why + "." });
    };
    ws.onmessage = (event) => (typeof event.data === "string" ? this.control(event.data) : this.play(event.data));
    processor.onaudioprocess = (event) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      const input = event.inputBuffer.getChannelData(0);
      const merged = new Int16Array(pending.length + input.length);
      merged.set(pending);
      for (let i = 0; i < input.length; i++) merged[pending.length + i] = Math.max(-32768, Math.min(32767, input[i] * 32768));
      let offset = 0;
      for (; merged.length - offset >= FRAME; offset += FRAME) ws.send(merged.slice(offset, offset + FRAME).buffer);
      pending = merged.slice(offset);
    };
    source.connect(processor);
    processor.connect(this.audio.destination);
  }

  control(text) {
    let message = {};
    try { message = JSON.parse(text); } catch { return; }
    if (message.event === "clear") { this.sources.forEach((s) => s.stop()); this.sources = []; this.playAt = 0; }
  }

  play(data) {
    const pcm = new Int16Array(data);
    const buffer = this.audio.createBuffer(1, pcm.length, RATE);
    const samples = buffer.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
    const node = this.audio.createBufferSource();
    node.buffer = buffer;
    node.connect(this.audio.destination);
    this.playAt = Math.max(this.playAt, this.audio.currentTime + 0.06);
    node.start(this.playAt);
    this.playAt += buffer.duration;
    this.sources.push(node);
    node.onended = () => { this.sources = this.sources.filter((s) => s !== node); };
  }

  close() {
    if (this.ws) this.ws.close(1000);
    this.release();
  }

  release() {
    if (this.mic) this.mic.getTracks().forEach((t) => t.stop());
    if (this.audio) this.audio.close().catch(() => {});
    this.mic = this.audio = null;
  }
}

export function TalkToDraft({ ctx, agentId, beforeTalking }) {
  const [state, setState] = useState({ talking: false, text: "" });
  const [line] = useState(() => new Line(setState));
  useEffect(() => () => line.close(), []);  // leaving the page hangs up
  const start = async () => {
    setState({ talking: true, text: "Calling the draft…" });
    try {
      await line.open(ctx.token(), agentId, beforeTalking);
    } catch (error) {
      line.close();
      setState({ talking: false, text: "Could not start: " + (error.message || error) });
    }
  };
  return html`<section class="card" id="talk-to-draft"><h2>Talk to the draft</h2>
    <p class="muted">Speak with the draft from this browser (your microphone). The call costs what a call costs.</p>
    <div class="actions">
      <button type="button" id="talk-start" disabled=${state.talking} onClick=${start}>Start talking</button>
      <button type="button" id="talk-stop" disabled=${!state.talking} onClick=${() => line.close()}>Hang up</button>
    </div>
    <p role="status" id="talk-state">${state.text}</p>
  </section>`;
}
