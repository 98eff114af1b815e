"""HL7 v2 triggers over MLLP: reading messages into visit events and acknowledging them
(``messages``), and the listener that serves a port (``listener``). The ``hl7`` package does
the parsing and the MLLP framing; nothing here is a hand-written parser."""
