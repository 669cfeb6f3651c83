"""A stand-in for a node's HTTPS /debug/pprof/ routes, for `pprofgatectl fetch`
tests on branches where the pprof gate is not wired yet.

    pprof_stub.py PORT CERT KEY CA MODE [TOKEN_FILE]

MODE mtls: a client certificate signed by CA is required (TLS handshake).
MODE token: no client certificate; "Authorization: Bearer <token>" must equal
the content of TOKEN_FILE, else 401 with a pprofgate-style JSON reason.
/debug/pprof/NAME?seconds=N sleeps N seconds (a capture), then answers."""
import http.server
import ssl
import sys
import time
import urllib.parse

port, cert, key, ca, mode = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
token = open(sys.argv[6]).read().strip() if mode == "token" else None


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if not u.path.startswith("/debug/pprof/"):
            return self.reply(404, b'{"error":"Not Found"}')
        if token is not None and self.headers.get("Authorization", "") != "Bearer " + token:
            return self.reply(401, b'{"error":"Unauthorized","reason":"token_invalid"}')
        q = urllib.parse.parse_qs(u.query)
        secs = int(q.get("seconds", ["0"])[0])
        time.sleep(min(secs, 10))
        name = u.path[len("/debug/pprof/"):]
        self.reply(200, ("profile:%s:%d:%s\n" % (name, secs, mode)).encode(), "application/octet-stream")


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
if mode == "mtls":
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
