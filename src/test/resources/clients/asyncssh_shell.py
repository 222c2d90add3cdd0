"""An interactive pty shell over asyncssh, for ClientMatrixIT (run with the Debian /usr/bin/python3).

    asyncssh_shell.py HOST USER (--key FILE | --password-file FILE)

Lines read on stdin are sent to the shell; everything the shell prints goes to stdout, unbuffered. The
SSH connection is one asyncssh connection for the whole run: a recovered session must carry on in it.
Any error is printed as 'sj-driver-error: ...' and ends the process with status 2.
"""
import argparse
import asyncio
import sys
import warnings

warnings.simplefilter("ignore")  # Debian's cryptography warns about ciphers asyncssh merely imports
import asyncssh  # noqa: E402


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("user")
    ap.add_argument("--key")
    ap.add_argument("--password-file")
    args = ap.parse_args()
    options = {}
    if args.key:
        options.update(client_keys=[args.key], preferred_auth="publickey")
    else:
        with open(args.password_file) as f:
            options.update(password=f.read().strip(), client_keys=None,
                           preferred_auth="keyboard-interactive,password")
    conn = await asyncssh.connect(args.host, username=args.user, known_hosts=None, agent_path=None,
                                  connect_timeout=30, login_timeout=30, **options)
    proc = await conn.create_process(term_type="xterm", term_size=(120, 40), encoding=None)
    out = sys.stdout.buffer
    loop = asyncio.get_running_loop()

    async def pump_output():
        while True:
            data = await proc.stdout.read(65536)
            if not data:
                break
            out.write(data)
            out.flush()

    async def pump_input():
        while True:
            line = await loop.run_in_executor(None, sys.stdin.buffer.readline)
            if not line:
                proc.stdin.write_eof()
                return
            proc.stdin.write(line)

    reader = asyncio.ensure_future(pump_output())
    asyncio.ensure_future(pump_input())
    await reader
    await proc.wait_closed()
    out.write(("\nsj-driver: the shell channel closed (exit status %s)\n" % proc.exit_status).encode())
    out.flush()
    conn.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:  # noqa: BLE001 - the test reads this line
        print("sj-driver-error: %s: %s" % (type(e).__name__, e), flush=True)
        sys.exit(2)
