"""Call control: SIP transports, inbound routing, outbound dialling, transfer and hangup."""
