"""Benchmark `digest ingest` against a sequential baseline, measured in the same run.

    .venv/bin/python bench/ingest.py [--feeds 500] [--latency 0.05] [--repeat 3]
                                     [--concurrency N (default: FETCH_CONCURRENCY's)]

Serves N generated feeds (20 items, ~3 kB of HTML per item) from a local server that waits
`--latency` seconds before every answer, then prints:

1. sequential fetch + parse (httpx.get, then feedparser.parse with its defaults, one feed
   after another) / `digest ingest` (`Pipeline.ingest` into a fresh SQLite file);
2. the floor, max(total parse CPU / cores, total latency / concurrency), where parse CPU is
   the CPU time of the work our workers do per body (`prepare_feed`), measured here with
   every core parsing at once (as an ingest parses; one process alone is printed too); and
   our time / floor;
3. first run / second run, where the second sends conditional requests only (parses: 0);
4. last, beside those figures, the fixed cost every hourly run pays: `digest ingest` run as
   a command over `--unchanged` feeds (default 50) that all answer 304 from a loopback
   server with no latency (start-up, imports, migration check, worker pool, fetching, the
   summary line, the recent digests brought up to date), the median of `--repeat` runs (at
   least 5), beside the baselines measured in turn with it: a bare interpreter that imports
   what no Python ingest of ours can do without (sqlmodel and aiohttp), the same with the
   garbage collector paused while importing, as `digest` imports a command (most of the
   difference is the collection at exit, which frozen objects skip), and, when it is
   installed, `newsboat -x reload` over the same feeds (the reader the target was set
   against). It is measured first.

The floor's parse CPU and both runs are measured `--repeat` times, in turn, and the best of
each is kept: on a shared machine the same work varies by a quarter from minute to minute.

The single local server is one host, so FETCH_PER_HOST is set to the concurrency (real
feeds are spread over ~60 hosts; the per-host limit of 2 is for their sake).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import feedparser  # noqa: E402
import httpx  # noqa: E402

from app.pipeline import Pipeline  # noqa: E402
from app.wiring import Runtime  # noqa: E402
from core.config import Settings  # noqa: E402
from core.normalise import prepare_feed  # noqa: E402

PARAGRAPH = (
    "<p>Our storage tier <b>replicates</b> every write to three zones; this section explains "
    "how the <a href='/docs/quorum'>quorum</a> is chosen, what happens when a zone is slow, "
    "and which trade-offs we accepted to keep p99 latency flat during failover.</p>\n"
)


def make_feed(n: int, items: int = 20) -> bytes:
    body = PARAGRAPH * 14  # ~3 kB of HTML per item
    entries = "".join(
        f"<item><title>Feed {n} post {i}: replication notes</title>"
        f"<link>https://blog{n}.example.com/posts/{i}?utm_source=rss</link>"
        f"<guid>blog{n}-{i}</guid><pubDate>Tue, 31 Mar 2026 {i % 24:02d}:00:00 GMT</pubDate>"
        f"<description><![CDATA[{body[:280]}]]></description>"
        f"<content:encoded><![CDATA[<h2>Post {i} of feed {n}</h2>{body}]]></content:encoded></item>"
        for i in range(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>Blog {n}</title><link>https://blog{n}.example.com/</link>{entries}"
        "</channel></rss>"
    ).encode()


def _serve(feeds: dict[str, bytes], latency: float, ports: Any) -> None:
    """The feed server: keep-alive HTTP/1.1, waits `latency` before each answer, ETag/304.

    One asyncio loop, answers built from bytes: it stands in for remote publishers, so the
    less of our two cores it takes, the less it distorts what is measured (a thread per
    connection cost ~3x the CPU).
    """
    etags = {
        path: '"' + hashlib.sha256(body).hexdigest()[:16] + '"' for path, body in feeds.items()
    }

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                path = head[0].split(" ")[1]
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in head[1:] if line)
                }
                await asyncio.sleep(latency)
                body, etag = feeds.get(path), etags.get(path, "")
                if body is None:
                    status, body = "404 Not Found", b""
                elif headers.get("if-none-match") == etag:
                    status, body = "304 Not Modified", b""
                else:
                    status = "200 OK"
                writer.write(
                    f"HTTP/1.1 {status}\r\nETag: {etag}\r\nContent-Type: application/rss+xml"
                    f"\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0, backlog=1024)
        ports.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


@contextmanager
def serve_feeds(feeds: dict[str, bytes], latency: float) -> Iterator[str]:
    """Run the feed server in its own process (as a remote server would be: not sharing our
    GIL, and not making this process multi-threaded) for the block; yields its base URL."""
    context = multiprocessing.get_context("fork")
    ports = context.Queue()
    process = context.Process(target=_serve, args=(feeds, latency, ports), daemon=True)
    process.start()
    try:
        yield f"http://127.0.0.1:{ports.get(timeout=30)}"
    finally:
        process.terminate()
        process.join()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _parse_cpu(feeds: dict[str, bytes], now: datetime) -> float:
    """CPU of the work our workers do per body (`prepare_feed`), one body after another."""
    cpu = time.process_time()
    for path, body in feeds.items():
        prepare_feed(
            body, url="http://127.0.0.1" + path, content_type="application/rss+xml", now=now
        )
    return time.process_time() - cpu


def _parse_cpu_all_cores(feeds: dict[str, bytes], now: datetime, cores: int) -> float:
    """The same work with every core busy: `cores` processes at once, each parsing every
    cores-th body; the sum of their CPU. Two processes at once on this kind of machine each
    take up to ~15% more CPU than one alone (shared caches, a virtual machine's cores), and
    an ingest parses on every core, so this is the parse CPU its floor is made of."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    bodies = list(feeds.items())

    def work(share: list[tuple[str, bytes]]) -> None:
        cpu = time.process_time()
        for path, body in share:
            prepare_feed(
                body, url="http://127.0.0.1" + path, content_type="application/rss+xml", now=now
            )
        results.put(time.process_time() - cpu)

    processes = [context.Process(target=work, args=(bodies[i::cores],)) for i in range(cores)]
    for process in processes:
        process.start()
    total = sum(results.get(timeout=600) for _ in processes)
    for process in processes:
        process.join()
    return total


def _write_sources(path: Path, base: str, feeds: dict[str, bytes]) -> None:
    lines = ['[editions.tech]\ntitle = "Bench"\n']
    for n, feed_path in enumerate(feeds):
        lines.append(
            f'[[sources]]\nname = "Feed {n:04d}"\ncompany = "Company {n}"\n'
            f'url = "{base}{feed_path}"\nedition = "tech"\n'
        )
    path.write_text("\n".join(lines))


def _ingest_twice(tmp: Path, sources: Path, concurrency: int, repeat: int) -> dict[str, Any]:
    """A first run into a fresh database, then a second (conditional) one."""
    settings = Settings.from_env(
        {
            "DATABASE_URL": f"sqlite:///{tmp}/bench-{repeat}.db",
            "DIGEST_SOURCES": str(sources),
            "FETCH_CONCURRENCY": str(concurrency),
            "FETCH_PER_HOST": str(concurrency),
        }
    )
    runtime = Runtime(settings=settings)
    runtime.engine  # migrations are set-up, not ingest  # noqa: B018
    start, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    first_counts = Pipeline(runtime).ingest(fulltext=False).counts()
    first = time.perf_counter() - start
    first_cpu = time.process_time() - cpu
    first_workers = _children_cpu() - children
    start = time.perf_counter()
    second_counts = Pipeline(runtime).ingest(fulltext=False).counts()
    second = time.perf_counter() - start
    runtime.close()
    return {
        "first": first,
        "first_cpu": first_cpu,
        "first_workers": first_workers,
        "first_counts": first_counts,
        "second": second,
        "second_counts": second_counts,
    }


def _median_run(command: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU (the process and its children) of `command`."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu, start = _children_cpu(), time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus)


PAUSED_IMPORTS = "import gc; gc.disable(); import sqlmodel, aiohttp; gc.freeze()"


def fixed_cost(count: int, runs: int) -> dict[str, float]:
    """`digest ingest` over `count` unchanged feeds, as cron or the hourly job runs it, and
    an interpreter importing sqlmodel and aiohttp, in turn: the medians of wall and CPU."""
    feeds = {f"/u/{n:04d}.xml": make_feed(n) for n in range(count)}
    digest = str(Path(sys.executable).with_name("digest"))
    with serve_feeds(feeds, 0.0) as base, tempfile.TemporaryDirectory() as tmp:
        sources = Path(tmp) / "sources.toml"
        _write_sources(sources, base, feeds)
        env = dict(
            os.environ, DATABASE_URL=f"sqlite:///{tmp}/fixed.db", DIGEST_SOURCES=str(sources)
        )
        subprocess.run([digest, "ingest"], env=env, check=True, stdout=subprocess.DEVNULL)
        commands = {
            "": [digest, "ingest"],
            "floor_": [sys.executable, "-c", "import sqlmodel, aiohttp"],
            # the same imports with the collector paused, then frozen, as `digest` imports
            "paused_": [sys.executable, "-c", PAUSED_IMPORTS],
        }
        newsboat = _newsboat(Path(tmp), base, feeds)
        if newsboat:
            commands["newsboat_"] = newsboat
        walls: dict[str, list[float]] = {key: [] for key in commands}
        cpus: dict[str, list[float]] = {key: [] for key in commands}
        for _ in range(runs):  # in turn, so all see the same machine
            for key, command in commands.items():
                wall, cpu = _median_run(command, env, 1)
                walls[key].append(wall), cpus[key].append(cpu)
    result = {"feeds": float(count), "runs": float(runs)}
    for key in commands:
        result[key + "wall"] = statistics.median(walls[key])
        result[key + "cpu"] = statistics.median(cpus[key])
    return result


def _newsboat(tmp: Path, base: str, feeds: dict[str, bytes]) -> list[str] | None:
    """`newsboat -x reload` over the same feeds, its cache filled by a first run (it asks
    with the validators it kept, as we do): the yardstick the 0.5 s target was set against
    (issue 15: 1.0 s for us, 0.34 s for newsboat, on that day's machine). None if it is not
    installed (`apt install newsboat`)."""
    found = shutil.which("newsboat")
    if found is None:
        return None
    urls, config = tmp / "newsboat-urls", tmp / "newsboat-config"
    urls.write_text("".join(f"{base}{path}\n" for path in feeds))
    config.write_text("")
    command = [found, "-u", str(urls), "-c", str(tmp / "newsboat.db"), "-C", str(config)]
    command += ["-x", "reload"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return command


def _print_fixed(fixed: dict[str, float]) -> None:
    wall, floor = fixed["wall"], fixed["floor_wall"]
    print(
        f"fixed cost: {fixed['feeds']:.0f} unchanged feeds, `digest ingest` as a command "
        f"(304s, loopback), median of {fixed['runs']:.0f}:"
    )
    print(f"  digest ingest:          {wall:6.3f} s  (CPU {fixed['cpu']:.3f} s)  (target <= 0.5 s)")
    print(
        f"  import sqlmodel, aiohttp: {floor:.3f} s  (CPU {fixed['floor_cpu']:.3f} s); "
        f"digest ingest / that: {wall / floor:.2f}x"
    )
    paused = fixed["paused_wall"]
    print(
        f"  the same, collector paused: {paused:.3f} s  (CPU {fixed['paused_cpu']:.3f} s); "
        f"digest ingest / that: {wall / paused:.2f}x"
    )
    if "newsboat_wall" in fixed:
        newsboat = fixed["newsboat_wall"]
        print(
            f"  newsboat -x reload:       {newsboat:.3f} s  (CPU {fixed['newsboat_cpu']:.3f} s); "
            f"digest ingest / that: {wall / newsboat:.2f}x (the target's: 0.5 / 0.34 = 1.47x)"
        )
    else:
        print("  newsboat -x reload: not installed, not measured (apt install newsboat)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=Settings().fetch_concurrency,  # what `digest ingest` uses
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="measure the floor and both runs this many times; best of each",
    )
    parser.add_argument(
        "--unchanged",
        type=int,
        default=50,
        help="feeds for the fixed-cost run of `digest ingest` (0: skip it)",
    )
    parser.add_argument(
        "--fixed-only", action="store_true", help="measure only the fixed cost (part 4)"
    )
    args = parser.parse_args()
    # measured first, before the big runs warm the machine; printed beside their figures
    fixed = fixed_cost(args.unchanged, max(5, args.repeat)) if args.unchanged else None
    if args.fixed_only:
        if fixed:
            _print_fixed(fixed)
        return

    feeds = {f"/f/{n:04d}.xml": make_feed(n) for n in range(args.feeds)}
    total_mb = sum(map(len, feeds.values())) / 1e6
    cores = os.cpu_count() or 1
    now = datetime.now(UTC)
    print(
        f"{args.feeds} feeds, {total_mb:.1f} MB, {args.latency * 1000:.0f} ms latency, "
        f"{cores} cores, concurrency {args.concurrency}, best of {args.repeat}"
    )

    sample = list(feeds.values())[:20]
    cpu = time.process_time()
    for body in sample:
        feedparser.parse(io.BytesIO(body))
    default_rate = (time.process_time() - cpu) / (sum(map(len, sample)) / 1e6)

    with serve_feeds(feeds, args.latency) as base, tempfile.TemporaryDirectory() as tmp:
        sources = Path(tmp) / "sources.toml"
        _write_sources(sources, base, feeds)

        start = time.perf_counter()
        with httpx.Client(timeout=30) as client:
            for path in feeds:
                response = client.get(base + path)
                feedparser.parse(io.BytesIO(response.content))
        sequential = time.perf_counter() - start

        # Shared machines are noisy (the same work varies by ±25% from one minute to the
        # next): the floor and our runs are measured in turn, and the best of each kept.
        parse_cpus, parallel_cpus, runs = [], [], []
        for repeat in range(args.repeat):
            parse_cpus.append(_parse_cpu(feeds, now))
            parallel_cpus.append(_parse_cpu_all_cores(feeds, now, cores))
            runs.append(_ingest_twice(Path(tmp), sources, args.concurrency, repeat))

    alone_cpu, parse_cpu = min(parse_cpus), min(parallel_cpus)
    best = min(runs, key=lambda run: run["first"])
    first, second = best["first"], min(run["second"] for run in runs)
    first_counts, second_counts = best["first_counts"], runs[-1]["second_counts"]
    latency_floor = args.feeds * args.latency / args.concurrency
    floor = max(parse_cpu / cores, latency_floor)
    alone_floor = max(alone_cpu / cores, latency_floor)
    seconds = ", ".join(f"{run['first']:.2f}/{run['second']:.2f}" for run in runs)
    print(
        f"parse CPU: ours {alone_cpu / total_mb:.2f} s/MB (prepare_feed: feedparser without "
        f"sanitising + HTML to text); feedparser defaults {default_rate:.2f} s/MB"
    )
    print(
        f"  all bodies, one process: {', '.join(f'{c:.2f}' for c in parse_cpus)} s; "
        f"{cores} processes at once: {', '.join(f'{c:.2f}' for c in parallel_cpus)} s "
        f"(CPU summed)"
    )
    print(f"sequential fetch+parse: {sequential:6.2f} s")
    print(
        f"digest ingest (1st):    {first:6.2f} s  new={first_counts['new']} "
        f"parsed={first_counts['parsed']} errors={first_counts['errors']}"
    )
    print(
        f"  CPU of that run: {best['first_cpu']:.2f} s in this process (fetching, storing), "
        f"{best['first_workers']:.2f} s in worker processes (parsing)"
    )
    print(
        f"digest ingest (2nd):    {second:6.2f} s  new={second_counts['new']} "
        f"parsed={second_counts['parsed']} unchanged={second_counts['unchanged']}"
    )
    print(f"  every 1st/2nd run: {seconds} s")
    print(
        f"floor:                  {floor:6.2f} s  = max(parse CPU {parse_cpu:.2f} s / {cores} "
        f"cores, latency {args.feeds * args.latency:.1f} s / {args.concurrency}), "
        f"parse CPU measured with every core busy"
    )
    print(
        f"  (with the parse CPU of one process alone, {alone_cpu:.2f} s: floor "
        f"{alone_floor:.2f} s, ingest / floor {first / alone_floor:.2f}x)"
    )
    busy = (best["first_cpu"] + best["first_workers"]) / cores
    print(
        f"our CPU / cores:        {busy:6.2f} s  (the least that run could take on idle "
        f"cores; {busy / floor:.2f}x the floor)"
    )
    print(f"sequential / ingest:    {sequential / first:6.1f}x  (target >= 5x)")
    print(f"ingest / floor:         {first / floor:6.2f}x  (target <= 1.3x)")
    print(
        f"1st run / 2nd run:      {first / second:6.1f}x  (target >= 10x, 0 parses on the 2nd: "
        f"{second_counts['parsed']})"
    )
    if fixed:  # the 2nd run above is timed in this process: no start-up, no backfill
        _print_fixed(fixed)


if __name__ == "__main__":
    main()
