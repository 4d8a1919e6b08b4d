"""Media: RTP and RTCP packets, G.711, telephone events; pure, no sockets, no asyncio."""
