"""A stand-in for a node's HTTPS /debug/pprof/ routes, for `pprofgatectl fetch`
tests on branches where the pprof gate is not wired yet.

    pprof_stub.py PORT CERT KEY CA MODE [TOKEN_FILE]

MODE mtls: a client certificate signed by CA is required (TLS handshake).
MODE token: no client certificate; "Authorization: Bearer <token>" must equal
the content of TOKEN_FILE, else 401 with a pprofgate-style JSON reason.
/debug/pprof/NAME?seconds=N sleeps N seconds (a capture), then answers with a
small gzip'd profile.proto (one sample in function "stub_NAME") when
profile_pb2 (protoc --python_out from proto/profile.proto) is importable from
PG_STUB_PB_DIR, else with a text marker."""
import gzip
import http.server
import os
import ssl
import sys
import time
import urllib.parse

port, cert, key, ca, mode = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
token = open(sys.argv[6]).read().strip() if mode == "token" else None


try:
    sys.path.insert(0, os.environ.get("PG_STUB_PB_DIR", "."))
    import profile_pb2
except ImportError:
    profile_pb2 = None


def make_profile(name):
    p = profile_pb2.Profile()
    p.string_table.extend(["", "samples", "count", "stub_" + name, "stub.c"])
    st = p.sample_type.add()
    st.type, st.unit = 1, 2
    f = p.function.add()
    f.id, f.name, f.system_name, f.filename = 1, 3, 3, 4
    loc = p.location.add()
    loc.id = 1
    ln = loc.line.add()
    ln.function_id, ln.line = 1, 42
    s = p.sample.add()
    s.location_id.append(1)
    s.value.append(7)
    return gzip.compress(p.SerializeToString())


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
        if profile_pb2 is not None:
            body = make_profile(name)
        else:
            body = ("profile:%s:%d:%s\n" % (name, secs, mode)).encode()
        self.reply(200, body, "application/octet-stream")


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
if mode == "mtls":
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
