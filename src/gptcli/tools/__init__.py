"""Tools a model may call (issue 20): the values and the protocol every tool source implements
(``base``), the MCP servers a profile declares (``mcp``), and the loop that runs a model's calls."""
