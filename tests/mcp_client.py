"""The official MCP Python SDK (PyPI `mcp`) as the client of `rag mcp` (stdio) and `rag serve`'s `/mcp`
(streamable HTTP), for tests/mcp.rs and eval/mcp-load.sh. Prints one JSON object on stdout.

    python3 mcp_client.py stdio RAG_BINARY INDEX WORKDIR session
    python3 mcp_client.py http URL KEY session
    python3 mcp_client.py stdio RAG_BINARY INDEX WORKDIR bench N [QUERIES.jsonl]
    python3 mcp_client.py stdio RAG_BINARY INDEX WORKDIR ingest ALLOWED_PATH FORBIDDEN_PATH
    python3 mcp_client.py stdio RAG_BINARY MISSING_INDEX WORKDIR missing CORPUS
"""

import asyncio
import json
import os
import sys
import time

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

PRESSURE = "What is the maximum operating pressure of the pump?"


def field(obj, snake, camel):
    """A field of an SDK object (2.x names fields in snake case, 1.x in camel case)."""
    return getattr(obj, snake, None) if hasattr(obj, snake) else getattr(obj, camel, None)


def outcome(result):
    """A tool result as plain data: error flag, structured content, text."""
    text = "".join(getattr(block, "text", "") for block in result.content)
    return {
        "is_error": bool(field(result, "is_error", "isError")),
        "structured": field(result, "structured_content", "structuredContent"),
        "text": text,
    }


async def call(session, name, arguments):
    try:
        return outcome(await session.call_tool(name, arguments))
    except Exception as e:  # a protocol error: the server answered with a JSON-RPC error
        return {"protocol_error": type(e).__name__, "message": str(e)}


async def session_checks(session):
    init = await session.initialize()
    info = field(init, "server_info", "serverInfo")
    out = {"server": info.name if info else None}
    tools = await session.list_tools()
    out["tools"] = {
        t.name: {
            "description": t.description,
            "properties": sorted((field(t, "input_schema", "inputSchema") or {}).get("properties", {})),
        }
        for t in tools.tools
    }
    search = await call(session, "search", {"query": "maximum operating pressure of the pump", "k": 3})
    out["search"] = search
    out["ask"] = await call(session, "ask", {"question": PRESSURE})
    out["refusal"] = await call(session, "ask", {"question": "Who won the 1998 football world cup?"})
    out["follow_up"] = await call(
        session,
        "ask",
        {
            "question": "And in psi?",
            "history": [{"question": PRESSURE, "answer": out["ask"].get("text", "")}],
        },
    )
    first = (search.get("structured") or {}).get("results", [{}])[0]
    out["read_page"] = await call(session, "read_document", {"path": first.get("path", ""), "page": 3})
    out["read_outside"] = await call(session, "read_document", {"path": "/etc/passwd"})
    out["read_lines"] = await call(session, "read_document", {"path": "notes/ops.md", "start_line": 1, "end_line": 4})
    out["list"] = await call(session, "list_documents", {"limit": 2})
    out["list_glob"] = await call(session, "list_documents", {"path": "manuals/**"})
    out["status"] = await call(session, "status", {})
    out["bad_args"] = await call(session, "search", {"query": 5})
    out["empty_query"] = await call(session, "search", {"query": "  "})
    out["unknown_tool"] = await call(session, "no_such_tool", {})
    out["ingest"] = await call(session, "ingest", {"paths": ["/tmp"]})
    # Still serving after all of that.
    out["after"] = await call(session, "status", {})
    return out


async def ingest_checks(session, allowed, forbidden):
    await session.initialize()
    tools = await session.list_tools()
    out = {"tools": sorted(t.name for t in tools.tools)}
    out["ingest"] = await call(session, "ingest", {"paths": [allowed]})
    out["forbidden"] = await call(session, "ingest", {"paths": [forbidden]})
    out["relative"] = await call(session, "ingest", {"paths": ["docs"]})
    out["search"] = await call(session, "search", {"query": "Which colour is the Zorblat valve handle?", "k": 1})
    return out


async def missing_checks(session, binary, index, corpus):
    """The index does not exist yet: tools say so; after `rag ingest`, the same session works."""
    import subprocess

    await session.initialize()
    out = {"before": await call(session, "status", {})}
    out["search_before"] = await call(session, "search", {"query": "pump"})
    subprocess.run([binary, "--index", index, "--quiet", "ingest", corpus], check=True, capture_output=True)
    out["after"] = await call(session, "status", {})
    return out


def rss_of(pid):
    """(current, peak) resident set of a process, in bytes."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    kib = lambda k: int(fields.get(k, "0 kB").split()[0]) * 1024
    return kib("VmRSS"), kib("VmHWM")


def find_server(binary, index):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].decode(errors="replace") == binary and index.encode() in argv and b"mcp" in argv:
            return int(pid)
    return None


async def bench(session, binary, index, n, queries_file=None, spawned=None):
    await session.initialize()
    initialized_s = time.perf_counter() - spawned if spawned else None
    pid = find_server(binary, index)
    idle = rss_of(pid) if pid else (None, None)
    queries = [
        "maximum operating pressure of the pump",
        "when does the controller water zone B",
        "how often are laptops replaced",
        "service interval",
        "warranty",
    ]
    if queries_file:
        with open(queries_file) as f:
            queries = [json.loads(line)["text"] for line in f if line.strip()]
    latencies, errors = [], 0
    for i in range(n):
        started = time.perf_counter()
        result = await call(session, "search", {"query": queries[i % len(queries)], "k": 5})
        latencies.append(time.perf_counter() - started)
        if "protocol_error" in result or result["is_error"]:
            errors += 1
    latencies.sort()
    loaded = rss_of(pid) if pid else (None, None)
    status = (await call(session, "status", {})).get("structured") or {}
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    return {
        "spawn_to_initialized_s": initialized_s,
        "files": status.get("files"),
        "chunks": status.get("chunks"),
        "calls": n,
        "errors": errors,
        "p50_ms": pick(0.50) * 1000,
        "p99_ms": pick(0.99) * 1000,
        "max_ms": latencies[-1] * 1000,
        "rss_idle_bytes": idle[0],
        "rss_after_bytes": loaded[0],
        "rss_peak_bytes": loaded[1],
    }


async def main():
    mode = sys.argv[1]
    if mode == "stdio":
        binary, index, workdir, what = sys.argv[2:6]
        params = StdioServerParameters(command=binary, args=["--index", index, "--quiet", "mcp"], cwd=workdir)
        spawned = time.perf_counter()
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                if what == "missing":
                    result = await missing_checks(session, binary, index, sys.argv[6])
                elif what == "ingest":
                    result = await ingest_checks(session, sys.argv[6], sys.argv[7])
                elif what == "bench":
                    queries = sys.argv[7] if len(sys.argv) > 7 else None
                    result = await bench(session, binary, index, int(sys.argv[6]), queries, spawned)
                else:
                    result = await session_checks(session)
    else:
        from mcp.shared._httpx_utils import create_mcp_http_client
        from mcp.client.streamable_http import streamable_http_client

        url, key, what = sys.argv[2:5]
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with create_mcp_http_client(headers=headers) as client:
            async with streamable_http_client(url, http_client=client) as streams:
                read, write = streams[0], streams[1]
                async with ClientSession(read, write) as session:
                    result = await session_checks(session)
    print(json.dumps(result))


asyncio.run(main())
