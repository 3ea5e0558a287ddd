"""The Airflow REST API personality (plain HTTP, as the webserver on :8080).

`--airflow 2` (the default) is Airflow 2.10: `/api/v1` (Connexion) with basic
auth; errors are `application/problem+json` {"detail","status","title","type"};
`/api/v2` and `/auth/token` do not exist (Flask's HTML 404).
`--airflow 3` is Airflow 3.0: `/api/v2` (FastAPI) with a JWT from
`POST /auth/token` {"username","password"} -> 201 {"access_token"}; the trigger
body must hold the key `logical_date` (null allowed) and no unknown keys (422
with pydantic's detail list); errors are {"detail": ...}; `/api/v1` answers 404
{"detail":"Not Found"}.  Shapes: research fixtures/airflow.

DAGs: rag_ingest_daily, backup_postgres, model_warmup (paused).  A run moves on
each GET of it: queued -> running (one task after the other) -> success, or
failed when the admin route `POST /airflow/outcome {"dag_id","state":"failed"}`
says so.  A run of a paused DAG stays queued (as on a real scheduler).
`POST /airflow/expire_tokens` makes every issued JWT invalid (401), so clients
must fetch a new one.  `GET /api/vN/version` needs no credentials.
"""

import base64
import datetime
import json
import os
import secrets
import threading
import urllib.parse

import core
from core import Response, dumps
from lab import hostile as lab_hostile

JSON = "application/json"
PROBLEM = "application/problem+json"
VERSIONS = {2: "2.10.5", 3: "3.0.6"}
DOCS = "https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html#section/Errors/"
HTML_404 = (b"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
            b"<p>The requested URL was not found on the server. If you entered the URL manually please "
            b"check your spelling and try again.</p>\n")
TITLES = {400: ("Bad Request", "BadRequest"), 401: ("Unauthorized", "Unauthenticated"),
          403: ("Forbidden", "PermissionDenied"), 404: ("Not Found", "NotFound"),
          409: ("Conflict", "AlreadyExists"), 500: ("Internal Server Error", "Unknown"),
          503: ("Service Unavailable", "Unknown")}

DAGS = [
    # dag_id, schedule, tasks, paused, last run (age in hours, state)
    ("rag_ingest_daily", "0 2 * * *", ["fetch_documents", "chunk", "embed", "upsert_pgvector"], False,
     (7, "success")),
    ("backup_postgres", "30 3 * * *", ["pg_dump", "upload"], False, (5, "failed")),
    ("model_warmup", "@hourly", ["pull_models", "warm_cache"], True, (50, "success")),
]


def add_arguments(ap):
    ap.add_argument("--airflow", type=int, choices=(2, 3), default=2,
                    help="Airflow 2 (/api/v1, basic auth) or 3 (/api/v2, JWT) (default 2)")


def make(lab, P, args):
    a = Airflow(getattr(args, "airflow", 2) or 2)
    if getattr(lab, "hostile_all", False):  # --hostile: a DAG whose id and task id carry escapes
        dag_id = lab_hostile("evil_dag", lab, short=True)
        d = {"dag_id": dag_id, "schedule": "@daily", "tasks": [lab_hostile("task", lab)], "is_paused": False}
        a.dags[dag_id] = d
        when = now().replace(minute=0, second=0, microsecond=0) - datetime.timedelta(hours=3)
        a.runs[dag_id] = [Run(d, "scheduled__" + iso(when, 2), "scheduled", {}, when, "failed")]
    return a


def iso(t, v):
    s = t.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return s + ("+00:00" if v == 2 else "Z")


def now():
    return datetime.datetime.now(datetime.timezone.utc)


class Run:
    def __init__(self, dag, run_id, run_type, conf, when, state="queued", logical=None):
        self.dag = dag
        self.run_id = run_id
        self.run_type = run_type
        self.conf = conf
        self.queued_at = when
        self.logical = logical if logical is not None else when
        self.logical_null = False
        self.state = state
        self.start = None
        self.end = None
        self.polls = 0
        self.outcome = "success"
        self.note = None
        if state != "queued":  # a past run
            self.start = when + datetime.timedelta(seconds=4)
            self.end = self.start + datetime.timedelta(minutes=3)
            self.polls = len(dag["tasks"]) + 1
            self.outcome = state

    def advance(self):
        if self.state in ("success", "failed") or self.dag["is_paused"]:
            return
        self.polls += 1
        n = len(self.dag["tasks"])
        if self.polls == 1:
            self.state = "running"
            self.start = now()
        if self.polls > n:
            self.state = self.outcome
            self.end = now()

    def task_state(self, i):
        n = len(self.dag["tasks"])
        if self.state == "queued":
            return None
        done = self.polls - 1  # tasks finished so far while running
        if self.state in ("success", "failed") or done >= n:
            if self.outcome == "success":
                return "success"
            # the last task fails and takes the rest with it
            if i < n - 1:
                return "success"
            return "failed"
        if i < done:
            return "success"
        if i == done:
            return "running"
        return "scheduled"


class Airflow:
    name = "airflow"
    json_type = JSON

    def __init__(self, version=2, username="admin", password=None):
        self.version = version
        self.server_header = "gunicorn" if version == 2 else "uvicorn"
        self.username = username
        self.password = password or ("labsim-af-" + secrets.token_hex(8))
        self.tokens = set()
        self.lock = threading.Lock()
        self.dags = {}
        self.runs = {}  # dag_id -> [Run] in creation order
        self.outcomes = {}
        t = now()
        for dag_id, sched, tasks, paused, (age, state) in DAGS:
            d = {"dag_id": dag_id, "schedule": sched, "tasks": tasks, "is_paused": paused}
            self.dags[dag_id] = d
            when = (t - datetime.timedelta(hours=age)).replace(minute=0, second=0, microsecond=0)
            r = Run(d, "scheduled__" + iso(when, 2), "scheduled", {}, when, state)
            self.runs[dag_id] = [r]

    # ---------------- plugin interface ----------------

    def tls(self, P):
        return None

    def ini(self, url, P):
        path = P("airflow-password")
        with open(path, "w") as f:
            f.write(self.password + "\n")
        os.chmod(path, 0o600)
        return ["[airflow]", "url = " + url, "username = " + self.username, "password_file = " + path]

    def state(self, url):
        return {"url": url, "port": int(url.rsplit(":", 1)[1]), "version": self.version,
                "airflow_version": VERSIONS[self.version], "username": self.username, "password": self.password}

    def admin(self, method, path, data):
        if path == "/airflow/outcome" and method == "POST":
            data = data or {}
            if data.get("dag_id") not in self.dags or data.get("state") not in ("success", "failed"):
                return 400, {"error": "want {\"dag_id\": one of %s, \"state\": success|failed}" %
                             ", ".join(self.dags)}
            self.outcomes[data["dag_id"]] = data["state"]
            return 200, {"outcomes": self.outcomes}
        if path == "/airflow/expire_tokens" and method == "POST":
            with self.lock:
                n = len(self.tokens)
                self.tokens.clear()
            return 200, {"expired": n}
        if path == "/airflow" and method == "GET":
            with self.lock:
                return 200, {"dags": {k: {"is_paused": d["is_paused"],
                                          "runs": [self.run_obj(r) for r in self.runs[k]]}
                                      for k, d in self.dags.items()}}
        return None

    # ---------------- answers ----------------

    def ok(self, obj, status=200):
        return Response(status, dumps(obj) + b"\n", content_type=JSON)

    def error(self, code, detail, title=None):
        if self.version == 2:
            t, kind = TITLES.get(code, ("Error", "Unknown"))
            return Response(code, dumps({"detail": detail, "status": code, "title": title or t,
                                         "type": DOCS + kind}) + b"\n", content_type=PROBLEM)
        return Response(code, dumps({"detail": detail}) + b"\n", content_type=JSON)

    def fault_status(self, req, code, params):
        detail = params.get("reason")
        if detail is None:
            detail = {401: "Not authenticated" if self.version == 3 else None,
                      403: "Forbidden" if self.version == 3 else
                      "You do not have permission to perform this action"}.get(code, "labsim injected status %d" % code)
        resp = self.error(code, detail)
        if params.get("retry_after") is not None:
            resp.headers.append(("Retry-After", str(params["retry_after"])))
        return resp

    def malformed_body(self):
        return b'{"dags": [{"dag_id": "rag_ingest_daily", "is_paused": fal<html><body>502 Bad Gateway'

    def big_parts(self, nbytes):
        with self.lock:
            item = dumps(self.dag_obj(self.dags["rag_ingest_daily"]))
        return core.json_array_parts(b'{"dags":[', item, b'],"total_entries":1}', nbytes)

    # ---------------- auth ----------------

    def basic_ok(self, req):
        a = req.header("Authorization")
        if a[:6].lower() != "basic ":
            return False
        try:
            user, _, pw = base64.b64decode(a[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.username and pw == self.password

    def bearer_ok(self, req):
        a = req.header("Authorization")
        with self.lock:
            return a[:7].lower() == "bearer " and a[7:].strip() in self.tokens

    def token(self, req):
        try:
            body = json.loads(req.body or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("username"), str) \
                or not isinstance(body.get("password"), str):
            return self.ok({"detail": [{"type": "missing", "loc": ["body", "username"], "msg": "Field required",
                                        "input": body}]}, 422)
        if body["username"] != self.username or body["password"] != self.password:
            return self.ok({"detail": "Invalid credentials"}, 401)
        tok = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9." + secrets.token_urlsafe(24) + "." + secrets.token_urlsafe(32)
        with self.lock:
            self.tokens.add(tok)
        return self.ok({"access_token": tok}, 201)

    # ---------------- routing ----------------

    def handle(self, req):
        path = req.path.rstrip("/") or "/"
        v = self.version
        prefix = "/api/v1" if v == 2 else "/api/v2"
        if v == 3 and path == "/auth/token":
            if req.method != "POST":
                return self.ok({"detail": "Method Not Allowed"}, 405)
            return self.token(req)
        if not (path == prefix or path.startswith(prefix + "/")):
            if v == 2:
                return Response(404, HTML_404, content_type="text/html; charset=utf-8")
            return self.ok({"detail": "Not Found"}, 404)
        rest = [urllib.parse.unquote(p) for p in path[len(prefix):].split("/")[1:]]
        if rest == ["version"] and req.method == "GET":
            return self.ok({"version": VERSIONS[v], "git_version": None if v == 3 else
                            ".release:b8f7ae3e1fd7f5fd8d9e41bdd1e4e1fdb3a0f5b1"})
        if v == 2 and not self.basic_ok(req):
            return Response(401, dumps({"detail": None, "status": 401, "title": "Unauthorized",
                                        "type": DOCS + "Unauthenticated"}) + b"\n", content_type=PROBLEM,
                            headers=[("WWW-Authenticate", 'Basic realm="Authentication Required"')])
        if v == 3 and not self.bearer_ok(req):
            a = req.header("Authorization")
            return self.ok({"detail": "Invalid JWT token" if a else "Not authenticated"}, 401)
        with self.lock:
            return self.route(req, rest)

    def route(self, req, rest):
        m = req.method
        n = len(rest)
        if rest == ["dags"] and m == "GET":
            lst = [self.dag_obj(d) for d in self.dags.values()]
            limit = int(req.qget("limit", "100"))
            offset = int(req.qget("offset", "0"))
            return self.ok({"dags": lst[offset:offset + limit], "total_entries": len(lst)})
        if n >= 2 and rest[0] == "dags":
            d = self.dags.get(rest[1])
            if d is None:
                return self.error(404, "DAG with dag_id: '%s' not found" % rest[1], "DAG not found")
            if n == 2 and m == "GET":
                return self.ok(self.dag_obj(d))
            if n == 2 and m == "PATCH":
                return self.patch_dag(req, d)
            if n == 3 and rest[2] == "dagRuns" and m == "GET":
                runs = self.sorted_runs(d, req.qget("order_by", "-start_date" if self.version == 2 else "id"))
                limit = int(req.qget("limit", "100"))
                offset = int(req.qget("offset", "0"))
                return self.ok({"dag_runs": [self.run_obj(r) for r in runs[offset:offset + limit]],
                                "total_entries": len(runs)})
            if n == 3 and rest[2] == "dagRuns" and m == "POST":
                return self.trigger(req, d)
            if n >= 4 and rest[2] == "dagRuns":
                r = next((x for x in self.runs[d["dag_id"]] if x.run_id == rest[3]), None)
                if r is None:
                    return self.error(404, "DAGRun with DAG ID: '%s' and DagRun ID: '%s' not found" %
                                      (d["dag_id"], rest[3]), "DAGRun not found")
                if n == 4 and m == "GET":
                    r.advance()
                    return self.ok(self.run_obj(r))
                if n == 5 and rest[4] == "taskInstances" and m == "GET":
                    tis = [self.ti_obj(r, i) for i in range(len(d["tasks"]))]
                    return self.ok({"task_instances": tis, "total_entries": len(tis)})
        if self.version == 2:
            return Response(404, HTML_404, content_type="text/html; charset=utf-8")
        return self.ok({"detail": "Not Found"}, 404)

    def sorted_runs(self, d, order):
        runs = list(self.runs[d["dag_id"]])
        desc = order.startswith("-")
        key = order.lstrip("-")
        if key in ("start_date", "execution_date", "logical_date", "run_after"):
            attr = {"start_date": "start"}.get(key, "logical")
            have = [r for r in runs if getattr(r, attr) is not None]
            none = [r for r in runs if getattr(r, attr) is None]
            have.sort(key=lambda r: getattr(r, attr), reverse=desc)
            return (none + have) if desc else (have + none)  # PostgreSQL: NULLs are the largest
        if desc:
            runs.reverse()
        return runs

    def patch_dag(self, req, d):
        try:
            body = json.loads(req.body or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("is_paused"), bool):
            if self.version == 2:
                return self.error(400, "{'is_paused': ['Not a valid boolean.']}")
            return self.ok({"detail": [{"type": "bool_parsing", "loc": ["body", "is_paused"],
                                        "msg": "Input should be a valid boolean", "input": body}]}, 422)
        mask = req.qget("update_mask")
        if mask is not None and mask != "is_paused":
            return self.error(400, "Only `is_paused` field can be updated through the REST API")
        d["is_paused"] = body["is_paused"]
        return self.ok(self.dag_obj(d))

    def trigger(self, req, d):
        v = self.version
        try:
            body = json.loads(req.body) if req.body else None
        except ValueError:
            return self.error(400, "Request body must be valid JSON") if v == 2 else \
                self.ok({"detail": [{"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error",
                                     "input": {}}]}, 422)
        if v == 3 and not isinstance(body, dict):
            return self.ok({"detail": [{"type": "missing", "loc": ["body"], "msg": "Field required",
                                        "input": None}]}, 422)
        body = body if isinstance(body, dict) else {}
        allowed = {"conf", "dag_run_id", "logical_date", "note"} | ({"execution_date"} if v == 2 else
                                                                   {"data_interval_start", "data_interval_end",
                                                                    "run_after"})
        extra = [k for k in body if k not in allowed]
        if extra:
            if v == 2:
                return self.error(400, "{%s}" % ", ".join("'%s': ['Unknown field.']" % k for k in extra))
            return self.ok({"detail": [{"type": "extra_forbidden", "loc": ["body", k], "msg":
                                        "Extra inputs are not permitted", "input": body[k]} for k in extra]}, 422)
        if v == 3 and "logical_date" not in body:
            return self.ok({"detail": [{"type": "missing", "loc": ["body", "logical_date"], "msg": "Field required",
                                        "input": body}]}, 422)
        conf = body.get("conf", {})
        if conf is None:
            conf = {}
        if not isinstance(conf, dict):
            if v == 2:
                return self.error(400, "{'conf': ['Not a valid mapping type.']}")
            return self.ok({"detail": [{"type": "dict_type", "loc": ["body", "conf"],
                                        "msg": "Input should be a valid dictionary", "input": conf}]}, 422)
        t = now()
        run_id = body.get("dag_run_id") or "manual__" + iso(t, 2)
        if any(r.run_id == run_id for r in self.runs[d["dag_id"]]):
            if v == 2:
                return self.error(409, "DAGRun with DAG ID: '%s' and DAGRun ID: '%s' already exists" %
                                  (d["dag_id"], run_id))
            return self.ok({"detail": {
                "reason": "Unique constraint violation",
                "statement": "INSERT INTO dag_run (dag_id, queued_at, logical_date, start_date, end_date, state, "
                             "run_id, ...) VALUES (...)",
                "orig_error": 'duplicate key value violates unique constraint "dag_run_dag_id_run_id_key"',
                "message": "Serious error when inserting the DAG run %s" % run_id}}, 409)
        r = Run(d, run_id, "manual", conf, t)
        r.logical_null = v == 3 and body.get("logical_date") is None
        r.note = body.get("note")
        r.outcome = self.outcomes.get(d["dag_id"], "success")
        self.runs[d["dag_id"]].append(r)
        return self.ok(self.run_obj(r))

    # ---------------- objects ----------------

    def last_parsed(self):
        return iso(now().replace(microsecond=0) - datetime.timedelta(seconds=17), self.version)

    def dag_obj(self, d):
        v = self.version
        o = {"dag_id": d["dag_id"], "dag_display_name": d["dag_id"], "is_paused": d["is_paused"],
             "fileloc": "/opt/airflow/dags/%s.py" % d["dag_id"], "owners": ["labdeck"],
             "description": None, "tags": [{"name": "lab", "dag_id": d["dag_id"]}],
             "max_active_runs": 16, "has_import_errors": False, "last_parsed_time": self.last_parsed()}
        if v == 2:
            o.update({"is_active": True, "is_subdag": False, "root_dag_id": None,
                      "schedule_interval": {"__type": "CronExpression", "value": d["schedule"]},
                      "timetable_description": "At " + d["schedule"], "file_token": secrets.token_hex(8)})
        else:
            o.update({"is_stale": False, "timetable_summary": d["schedule"],
                      "timetable_description": "At " + d["schedule"], "bundle_name": "dags-folder"})
        return o

    def run_obj(self, r):
        v = self.version
        logical = None if r.logical_null else iso(r.logical, v)
        o = {"dag_run_id": r.run_id, "dag_id": r.dag["dag_id"], "logical_date": logical,
             "queued_at": iso(r.queued_at, v), "start_date": iso(r.start, v) if r.start else None,
             "end_date": iso(r.end, v) if r.end else None, "data_interval_start": logical,
             "data_interval_end": logical, "last_scheduling_decision": None, "run_type": r.run_type,
             "state": r.state, "conf": r.conf, "note": r.note}
        if v == 2:
            o.update({"execution_date": logical, "external_trigger": r.run_type == "manual"})
        else:
            o.update({"dag_display_name": r.dag["dag_id"], "run_after": iso(r.queued_at, v),
                      "duration": (r.end - r.start).total_seconds() if r.end and r.start else None,
                      "triggered_by": "rest_api" if r.run_type == "manual" else "timetable",
                      "triggering_user_name": self.username if r.run_type == "manual" else None,
                      "bundle_version": None, "dag_versions": []})
        return o

    def ti_obj(self, r, i):
        v = self.version
        st = r.task_state(i)
        if st == "scheduled" and r.state == "failed":
            st = "upstream_failed"
        if r.state == "failed" and r.outcome == "failed" and i == len(r.dag["tasks"]) - 1:
            st = "failed"
        task = r.dag["tasks"][i]
        started = r.start + datetime.timedelta(seconds=2 * i) if r.start and st in ("success", "failed", "running") \
            else None
        ended = started + datetime.timedelta(seconds=2) if started and st in ("success", "failed") else None
        o = {"task_id": task, "dag_id": r.dag["dag_id"], "dag_run_id": r.run_id, "map_index": -1,
             "logical_date": None if r.logical_null else iso(r.logical, v),
             "start_date": iso(started, v) if started else None, "end_date": iso(ended, v) if ended else None,
             "duration": 2.0 if ended else None, "state": st, "try_number": 1 if started else 0,
             "max_tries": 0, "hostname": "airflow-worker-0" if started else "", "unixname": "airflow",
             "pool": "default_pool", "pool_slots": 1, "queue": "default", "priority_weight": 1,
             "operator": "PythonOperator", "queued_when": None, "pid": None, "executor_config": "{}",
             "note": None, "rendered_fields": {}}
        if v == 2:
            o["execution_date"] = o["logical_date"]
        else:
            o.update({"id": "0198d15c-0000-7000-8000-%012d" % (i + 1), "task_display_name": task,
                      "run_after": iso(r.queued_at, v), "operator_name": "PythonOperator",
                      "rendered_map_index": None, "scheduled_when": None, "executor": None})
        return o
