"""Transports: what carries a call's audio to and from the agent, one adapter each.

SIP/RTP lives in `telephony` (call control over `sip`, media over `media`); the WebSocket media
streams (Twilio Media Streams, Telnyx media streaming, the browser's talk page) live here. Every one
of them is admitted by the same `CallPlanner`, kept in the same `CallBook`, and leaves the same call
record.
"""
