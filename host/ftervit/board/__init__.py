"""Host side of the serial link to the board (protocol, transport, deploy): no torch."""
