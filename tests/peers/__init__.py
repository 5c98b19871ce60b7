"""Real local peers bound to 127.0.0.1 on port 0: feed server, fake Slack Web API, SMTP sink, LLM.

One module per peer; `http.py` holds the threaded HTTP server they share.
"""
