#!/usr/bin/env python3
# Test helper: run a command on a pseudo-terminal and answer its prompts.
# usage: pty_driver.py '<json [{"expect": "text", "send": "keys"}, ...]>' command args...
# Waits for each "expect" text (ANSI escapes stripped) to appear in the output after the
# previous match, then types "send". Prints everything the command wrote, exits with its status.
import json, os, pty, re, select, sys, time

answers = json.loads(sys.argv[1])
cmd = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)

ansi = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")
raw = b""
clean_seen = 0  # offset in the cleaned output already consumed by earlier expects
deadline = time.time() + 25

def read_some(timeout):
    global raw
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return True
    try:
        data = os.read(fd, 65536)
    except OSError:
        return False
    if not data:
        return False
    raw += data
    return True

alive = True
for a in answers:
    want = a["expect"].encode()
    while alive:
        clean = ansi.sub(b"", raw)
        i = clean.find(want, clean_seen)
        if i >= 0:
            clean_seen = i + len(want)
            break
        if time.time() > deadline:
            sys.stdout.write(ansi.sub(b"", raw).decode(errors="replace"))
            sys.stderr.write("pty_driver: timed out waiting for %r\n" % a["expect"])
            os.kill(pid, 9)
            sys.exit(124)
        alive = read_some(0.2)
    time.sleep(0.05)
    os.write(fd, a["send"].encode())

while alive and time.time() < deadline:
    alive = read_some(0.5)
_, status = os.waitpid(pid, 0)
sys.stdout.write(ansi.sub(b"", raw).decode(errors="replace"))
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128)
