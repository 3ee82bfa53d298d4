"""One construct per concern; :mod:`stack.support_stack` wires them together."""
