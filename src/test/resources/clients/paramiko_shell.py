"""An interactive pty shell over paramiko, for ClientMatrixIT (run with the Debian /usr/bin/python3).

    paramiko_shell.py HOST USER (--key FILE | --password-file FILE)

Lines read on stdin are sent to the shell; everything the shell prints goes to stdout, unbuffered. The
SSH connection is one paramiko Transport for the whole run: a recovered session must carry on in it.
Any error is printed as 'sj-driver-error: ...' and ends the process with status 2.
"""
import argparse
import sys
import threading

import paramiko


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("user")
    ap.add_argument("--key")
    ap.add_argument("--password-file")
    args = ap.parse_args()
    password = None
    if args.password_file:
        with open(args.password_file) as f:
            password = f.read().strip()
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # a lab host key, new every run
    client.connect(args.host, username=args.user, key_filename=args.key, password=password,
                   look_for_keys=False, allow_agent=False, timeout=30, auth_timeout=30, banner_timeout=30)
    chan = client.invoke_shell(term="xterm", width=120, height=40)
    out = sys.stdout.buffer

    def pump_output():
        while True:
            data = chan.recv(65536)
            if not data:
                break
            out.write(data)
            out.flush()
        status = chan.recv_exit_status() if chan.exit_status_ready() else -1
        out.write(("\nsj-driver: the shell channel closed (exit status %d)\n" % status).encode())
        out.flush()

    reader = threading.Thread(target=pump_output, daemon=True)
    reader.start()
    for line in iter(sys.stdin.buffer.readline, b""):
        chan.sendall(line)
    chan.shutdown_write()
    reader.join()
    client.close()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - the test reads this line
        print("sj-driver-error: %s: %s" % (type(e).__name__, e), flush=True)
        sys.exit(2)
