"""Pure domain model: dataclasses, enums, validation and state machines. Standard library only."""
