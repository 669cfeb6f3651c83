#!/usr/bin/python3
"""A small goverse.Goverse client for the integration tests.

Messages come from `protoc --python_out` run at test time (see gen_messages);
calls are generic channel.unary_unary calls, so no grpc_tools are needed.

Usage: goverse_client.py TARGET CMD [ARGS...]
  status | list | create TYPE ID | delete ID [TYPE]
  call TYPE ID METHOD [AMOUNT]    (Counter methods; prints "name value")
  reliable CALL_ID TYPE ID METHOD [norequest]
                                  (ReliableCallObject; prints "STATUS error")
  register_gate ADDR              (RegisterGate stream; prints each message)
  push CLIENT_ID                  (a PushMessageToClient call, not in the service)
  raw METHOD HEXBYTES             (prints the status code name)
  expect CODE CMD [ARGS...]       (runs CMD, exits 0 iff it fails with CODE)
  concurrent N CALLS TYPE ID      (N threads x CALLS Increment(1); prints total)
Env: PG_PY_GEN = directory with goverse_pb2.py and counter_pb2.py.
"""
import os
import sys
import threading

sys.path.insert(0, os.environ["PG_PY_GEN"])

import grpc  # noqa: E402
from google.protobuf import any_pb2  # noqa: E402

import counter_pb2  # noqa: E402
import goverse_pb2  # noqa: E402

TIMEOUT = 10


def method(ch, name, req_cls, resp_cls):
    return ch.unary_unary(
        "/goverse.Goverse/" + name,
        request_serializer=req_cls.SerializeToString if req_cls else (lambda b: b),
        response_deserializer=resp_cls.FromString if resp_cls else (lambda b: b),
    )


def counter_call(ch, typ, oid, meth, amount=None):
    req_msg = {
        "Increment": counter_pb2.IncrementRequest,
        "Add": counter_pb2.IncrementRequest,
        "Decrement": counter_pb2.DecrementRequest,
        "Get": counter_pb2.GetRequest,
        "Reset": counter_pb2.ResetRequest,
    }.get(meth, counter_pb2.GetRequest)()
    if amount is not None:
        req_msg.amount = int(amount)
    a = any_pb2.Any()
    a.Pack(req_msg)
    call = method(ch, "CallObject", goverse_pb2.CallObjectRequest, goverse_pb2.CallObjectResponse)
    resp = call(goverse_pb2.CallObjectRequest(id=oid, type=typ, method=meth, request=a), timeout=TIMEOUT)
    out = counter_pb2.CounterResponse()
    if not resp.response.Unpack(out):
        raise SystemExit("response is not a counter.CounterResponse: " + resp.response.type_url)
    return out


def run(ch, args):
    cmd = args[0]
    if cmd == "status":
        r = method(ch, "Status", goverse_pb2.Empty, goverse_pb2.StatusResponse)(goverse_pb2.Empty(), timeout=TIMEOUT)
        print(r.advertise_addr, r.num_objects, r.uptime_seconds)
    elif cmd == "list":
        r = method(ch, "ListObjects", goverse_pb2.Empty, goverse_pb2.ListObjectsResponse)(goverse_pb2.Empty(), timeout=TIMEOUT)
        for o in sorted(r.objects, key=lambda o: o.id):
            print(o.type, o.id, o.creation_time)
    elif cmd == "create":
        r = method(ch, "CreateObject", goverse_pb2.CreateObjectRequest, goverse_pb2.CreateObjectResponse)(
            goverse_pb2.CreateObjectRequest(type=args[1], id=args[2]), timeout=TIMEOUT)
        print(r.id)
    elif cmd == "delete":
        req = goverse_pb2.DeleteObjectRequest(id=args[1])
        if len(args) > 2:
            req.type = args[2]
        method(ch, "DeleteObject", goverse_pb2.DeleteObjectRequest, goverse_pb2.DeleteObjectResponse)(req, timeout=TIMEOUT)
        print("deleted")
    elif cmd == "call":
        r = counter_call(ch, args[1], args[2], args[3], args[4] if len(args) > 4 else None)
        print(r.name, r.value)
    elif cmd == "echo":
        a = any_pb2.Any()
        a.Pack(counter_pb2.IncrementRequest(amount=int(args[2])))
        call = method(ch, "CallObject", goverse_pb2.CallObjectRequest, goverse_pb2.CallObjectResponse)
        r = call(goverse_pb2.CallObjectRequest(id=args[1], type="Echo", method="Echo", request=a), timeout=TIMEOUT)
        out = counter_pb2.IncrementRequest()
        r.response.Unpack(out)
        print(r.response.type_url, out.amount)
    elif cmd == "reliable":
        req = goverse_pb2.ReliableCallObjectRequest(call_id=args[1], object_type=args[2], object_id=args[3],
                                                    method_name=args[4])
        if len(args) <= 5:
            req.request.Pack(counter_pb2.GetRequest())
        r = method(ch, "ReliableCallObject", goverse_pb2.ReliableCallObjectRequest,
                   goverse_pb2.ReliableCallObjectResponse)(req, timeout=TIMEOUT)
        print(goverse_pb2.ReliableCallStatus.Name(r.status), r.error)
    elif cmd == "register_gate":
        stream = ch.unary_stream(
            "/goverse.Goverse/RegisterGate",
            request_serializer=goverse_pb2.RegisterGateRequest.SerializeToString,
            response_deserializer=goverse_pb2.GateMessage.FromString,
        )(goverse_pb2.RegisterGateRequest(gate_addr=args[1]), timeout=TIMEOUT)
        for m in stream:
            print(m.WhichOneof("message"))
    elif cmd == "push":
        req = goverse_pb2.PushMessageToClientRequest(client_id=args[1])
        req.message.Pack(counter_pb2.GetRequest())
        method(ch, "PushMessageToClient", goverse_pb2.PushMessageToClientRequest,
               goverse_pb2.PushMessageToClientResponse)(req, timeout=TIMEOUT)
        print("pushed")
    elif cmd == "raw":
        r = method(ch, args[1], None, None)(bytes.fromhex(args[2]), timeout=TIMEOUT)
        print("OK", len(r))
    elif cmd == "concurrent":
        n, calls, typ, oid = int(args[1]), int(args[2]), args[3], args[4]
        errors = []

        def worker():
            # One channel per thread: separate HTTP/2 connections.
            with grpc.insecure_channel(target) as c:
                for _ in range(calls):
                    try:
                        counter_call(c, typ, oid, "Increment", 1)
                    except grpc.RpcError as e:  # pragma: no cover - reported below
                        errors.append(e.code().name)

        ts = [threading.Thread(target=worker) for _ in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise SystemExit("errors: %s" % errors[:5])
        print(counter_call(ch, typ, oid, "Get").value)
    else:
        raise SystemExit("unknown command " + cmd)


target = sys.argv[1]
argv = sys.argv[2:]
with grpc.insecure_channel(target) as channel:
    if argv[0] == "expect":
        want = argv[1]
        try:
            run(channel, argv[2:])
        except grpc.RpcError as e:
            print(e.code().name, e.details())
            sys.exit(0 if e.code().name == want else 1)
        print("unexpected success")
        sys.exit(1)
    run(channel, argv)
