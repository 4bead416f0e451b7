"""A real SMTP server on loopback (aiosmtpd): the mailbox of `redress demo` and of the notifier's and end-to-end tests.

Every accepted message is written to OUT_DIR as <n>.eml, with <n>.json beside it (envelope sender and
recipients, whether the session used STARTTLS and AUTH). Recipients whose local part is `reject` get a
550, `tempfail` a 451; a sender whose local part is `refused` gets a 553 (a relay that does not let this
account send as it); a message to `slow` is answered 3 seconds after its end (a relay scanning it). With --cert/--key the server offers STARTTLS; with --user/--password it offers
AUTH (PLAIN, LOGIN) after STARTTLS and requires it.

Usage: smtp_sink.py PORT OUT_DIR [--cert C --key K] [--user U --password P]
Prints `READY` when listening; stops on SIGTERM, and when its parent dies.
"""
import argparse
import asyncio
import json
import os
import signal
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address.split("@")[0] == "refused":
            return "553 5.7.1 <%s>: Sender address rejected: not owned by user" % address
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local == "reject":
            return "550 5.1.1 <%s>: Recipient address rejected: no such user" % address
        if local == "tempfail":
            return "451 4.3.0 <%s>: try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if any(address.split("@")[0] == "slow" for address in envelope.rcpt_tos):
            await asyncio.sleep(3)
        with self.lock:
            self.count += 1
            number = self.count
        base = os.path.join(self.directory, "%04d" % number)
        with open(base + ".eml.tmp", "wb") as handle:
            handle.write(envelope.original_content or envelope.content)
        with open(base + ".json", "w") as handle:
            json.dump({
                "from": envelope.mail_from,
                "to": envelope.rcpt_tos,
                "tls": session.ssl is not None,
                "authenticated": bool(session.authenticated),
            }, handle)
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 2.0.0 Ok: queued as SINK%04d" % number


def main():
    # Who started us, read first: if it dies while we start, we still notice.
    parent = os.getppid()
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("directory")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user")
    parser.add_argument("--password")
    arguments = parser.parse_args()

    options = {}
    if arguments.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(arguments.cert, arguments.key)
        options["tls_context"] = context
    if arguments.user:
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == arguments.user \
                and auth_data.password.decode() == arguments.password
            return AuthResult(success=ok, handled=False)
        options["authenticator"] = authenticator
        options["auth_required"] = True
        options["auth_require_tls"] = bool(arguments.cert)
    else:
        options["auth_require_tls"] = False

    controller = Controller(Sink(arguments.directory), hostname="127.0.0.1", port=arguments.port,
                            server_hostname="localhost", ready_timeout=10, **options)
    controller.start()
    print("READY", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # A test runner may start us with these blocked (inherited mask): take them back.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    # Whoever started us was killed (SIGKILL, no chance to stop us): we were handed to another parent.
    # Stop too, or the port stays taken and the next `redress demo` refuses to start.
    while not stop.wait(1):
        if os.getppid() != parent:
            break
    controller.stop()


if __name__ == "__main__":
    main()
