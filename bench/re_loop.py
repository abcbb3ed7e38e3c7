"""A straightforward pure-Python parser of nginx ``combined`` logs: what one writes by hand with
the standard library (``re`` and ``datetime``), one line at a time. The benchmark's baseline.

usage: python bench/re_loop.py ACCESS_LOG
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from datetime import datetime

LINE = re.compile(r'(\S+) - (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"')


def main(path: str) -> None:
    statuses: Counter[int] = Counter()
    paths: Counter[str] = Counter()
    users: set[str] = set()
    sent = parsed = bad = 0
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            match = LINE.match(line)
            if match is None:
                bad += 1
                continue
            _addr, user, when, request, status, size, _referer, _agent = match.groups()
            datetime.strptime(when, "%d/%b/%Y:%H:%M:%S %z")
            _method, _, target = request.partition(" ")
            paths[target.rsplit(" ", 1)[0].split("?", 1)[0]] += 1
            statuses[int(status)] += 1
            sent += 0 if size == "-" else int(size)
            if user != "-":
                users.add(user)
            parsed += 1
    print(f"{parsed} parsed, {bad} bad, {sent} bytes, {len(users)} users, {len(paths)} paths")


if __name__ == "__main__":
    main(sys.argv[1])
