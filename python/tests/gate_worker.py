"""A Python process deciding through a Gate whose counters live in Redis, for the Node test
test/server/redis-state.test.ts (three servers and two Python processes on one Redis).

    python gate_worker.py POLICY REDIS_URL AUDIT_DIR COUNT SESSION

Waits for a line on stdin (so that every process starts together), then runs COUNT checks of
``{"tool": "t", "session": {"id": SESSION}}`` on 16 threads and prints one JSON line: the
decisions' ``decision`` and ``counters`` values.
"""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

from tollgate import Policy
from tollgate.gate import Gate


def main() -> None:
    policy, url, audit_dir, count, session = sys.argv[1:6]
    gate = Gate.open(Policy.from_file(policy), audit_dir, state=url)
    print("ready", flush=True)
    sys.stdin.readline()
    action = {"tool": "t", "session": {"id": session}}
    with ThreadPoolExecutor(16) as pool:
        out = list(pool.map(lambda _: gate.check(action), range(int(count))))
    gate.close()
    print(json.dumps([{"decision": d["decision"], "n": d["counters"]["n"]} for d in out]), flush=True)


if __name__ == "__main__":
    main()
