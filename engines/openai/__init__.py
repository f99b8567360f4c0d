"""Any OpenAI-compatible server over HTTP: the client, SSE decoding, the prompts."""
