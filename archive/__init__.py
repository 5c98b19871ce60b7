"""The web front-end: archive pages, search, our own RSS feeds. Mounted by app/web.py.

Like `bot` and `newsletter`, it imports the core and storage, never another front-end.

```
/                          index of digests (?edition=reads for another edition)
/daily/2026-04-01          a daily digest of the default edition (/reads/daily/… for others)
/weekly/2026-W14           a weekly rollup (/reads/weekly/… for others)
/tags/<tag>                digests carrying a tag
/search?q=…                full-text search of the articles (archive/search.py)
/feed.xml                  RSS 2.0 of our own digests; /tags/<tag>/feed.xml per tag
```

The addresses are spelled once, in `core.render.archive_url`.
"""

from archive.pages import Archive

__all__ = ["Archive"]
