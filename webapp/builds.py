"""Guided builds: one pipeline of the existing jobs, crawl every class → scan → review → split → train → evaluate → activate.

A `Build` row holds the declaration (`ml.operations.build.BuildRequest`) and each step's state. The
steps run the job kinds of `webapp.tasks` (nothing is done twice here): `advance(build)` starts the
next step once the jobs of the current one have finished. It runs whenever a job of the build ends
(`webapp.job_adapter.WebJobHost.report` calls `job_ended`) and whenever someone looks at the build
(the timeline's polling, the API, `flask build --wait`), so a lost report only delays it. A Redis lock
keeps two workers that finish the last two crawls at once from starting the scan twice.
"""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy.orm.attributes import flag_modified

from ml.dataset import list_class_files
from ml.errors import MLError
from ml.operations import SplitConfig
from ml.operations.build import STEPS, BuildRequest
from ml.operations.names import is_name
from ml.review import read_decisions

from . import tasks
from .errors import AppError, Conflict, InvalidParams, NotFound
from .extensions import db
from .models import Build, Job, User, iso, utcnow
from .redis_conn import RedisUnavailable, get_redis
from .registry import activate_model

#: The job kind each step runs (review and activate wait for a person instead).
STEP_KINDS = {"crawl": "crawl_classes", "scan": "split", "split": "split", "train": "train", "evaluate": "evaluate"}
#: Steps that wait for a person: the review of the pictures, the confirmation before activating.
WAITING_STEPS = ("review", "activate")


def _new_step(name: str, status: str = "pending") -> dict[str, Any]:
    return {"name": name, "status": status, "jobs": [], "counts": {}, "started_at": None, "finished_at": None,
            "error": None}


def _request(build: Build) -> BuildRequest:
    return BuildRequest.from_dict(build.request).validate()


def create_build(data: dict, user: User | None = None) -> Build:
    """Validate a build's declaration, write its row and start its first step; InvalidParams or Conflict otherwise."""
    try:
        request = BuildRequest.from_dict(dict(data or {}), web=True).validate()
    except MLError as exc:
        raise InvalidParams(exc.message) from None
    root = Path(current_app.config["DATA_DIR"]) / request.dataset
    if root.is_dir():
        others = sorted(p.name for p in root.iterdir() if p.is_dir() and is_name(p.name)
                        and p.name not in request.class_names())
        if others:
            raise InvalidParams(f"The dataset {request.dataset!r} already holds other classes ({', '.join(others)}); "
                                "a build makes a classifier of its own classes only: choose a new dataset name.")
    busy = db.session.execute(db.select(Build).where(Build.dataset == request.dataset,
                                                     Build.status.in_(("running", "waiting")))).scalar_one_or_none()
    if busy is not None:
        raise Conflict(f"Build {busy.id} is still working on the dataset {request.dataset!r}.")
    steps = [_new_step(name, "skipped" if request.skip_review and name in ("review", "split") else "pending")
             for name in STEPS]
    row = Build(dataset=request.dataset, status="running", request=request.to_dict(), steps=steps,
                created_by_id=getattr(user, "id", None))
    db.session.add(row)
    db.session.commit()
    return advance(row)


def get_build(build_id: int) -> Build:
    """The build, moved on as far as its jobs allow; NotFound when there is none."""
    row = db.session.get(Build, build_id)
    if row is None:
        raise NotFound(f"There is no build {build_id}.")
    return advance(row) if row.active else row


def recent_builds(limit: int = 20) -> list[Build]:
    """The newest builds first (as the database last saw them)."""
    return list(db.session.execute(db.select(Build).order_by(Build.created_at.desc()).limit(limit)).scalars())


# -- moving on ----------------------------------------------------------------------------------------
def _lock(build_id: int):
    return get_redis().lock(f"{current_app.config['QUEUE_PREFIX']}animals:build:{build_id}", timeout=60,
                            blocking_timeout=30)


def _save(build: Build, steps: list[dict]) -> None:
    build.steps = steps
    flag_modified(build, "steps")
    statuses = [s["status"] for s in steps]
    failed = next((s for s in steps if s["status"] == "failed"), None)
    if failed:
        build.status, build.error = "failed", failed["error"]
    elif "cancelled" in statuses:
        build.status = "cancelled"
    elif "waiting" in statuses:
        build.status = "waiting"
    elif all(s in ("finished", "skipped") for s in statuses):
        build.status = "finished"
    else:
        build.status = "running"
    if build.status in ("running", "waiting"):
        build.error, build.finished_at = None, None
    elif build.finished_at is None:
        build.finished_at = utcnow()
    db.session.commit()


def advance(build: Build) -> Build:
    """Bring the build's current step up to date with its jobs and start the next steps that can start."""
    with _lock(build.id):
        db.session.refresh(build)
        steps = copy.deepcopy(build.steps)
        _advance_steps(build, steps)
        _save(build, steps)
    return build


def _advance_steps(build: Build, steps: list[dict]) -> None:
    by_name = {s["name"]: s for s in steps}
    for step in steps:
        if step["status"] in ("finished", "skipped"):
            continue
        if step["status"] == "pending":
            _start(build, step, by_name)
        if step["status"] == "running":
            _update(step, build)
        if step["status"] == "waiting" and step["name"] == "review":
            _watch_review(build, step)
        if step["status"] != "finished":
            return


def _user(build: Build) -> User | None:
    return db.session.get(User, build.created_by_id) if build.created_by_id else None


def _start(build: Build, step: dict, steps: dict[str, dict]) -> None:
    """Enqueue the step's jobs (or wait for a person); a step that cannot start fails with the reason."""
    request = _request(build)
    step.update(started_at=iso(utcnow()), finished_at=None, error=None, counts={})
    name = step["name"]
    if name in WAITING_STEPS:
        step["status"] = "waiting"
        if name == "activate":
            step["counts"] = {"model_id": build.model_id}
        else:
            _find_suspects(build, step, request)
        return
    user = _user(build)
    try:
        if name == "crawl":
            # one job for every class: even one worker crawls them at once, within one set of polite limits
            rows = [tasks.enqueue("crawl_classes", {"dataset": request.dataset, **request.crawl_classes().to_dict()},
                                  user)]
        elif name in ("scan", "split"):
            rows = [tasks.enqueue("split", {"dataset": request.dataset}, user)]
        elif name == "train":
            names = request.display_names()
            rows = [tasks.enqueue("train", {"dataset": request.dataset, **request.recipe}, user,
                                  server_settings={"display_names": names} if names else None)]
        else:  # evaluate the model the train step registered
            train = db.session.get(Job, steps["train"]["jobs"][-1])
            build.model_id = int((train.result or {})["model_id"])
            rows = [tasks.enqueue("evaluate", {"model_id": build.model_id, "dataset": request.dataset}, user)]
    except (AppError, RedisUnavailable) as exc:
        step.update(status="failed", error=exc.message, finished_at=iso(utcnow()))
        return
    step.update(status="running", jobs=[r.id for r in rows])


def _find_suspects(build: Build, step: dict, request: BuildRequest) -> None:
    """Queue the review job, so the review page shows the suspect pictures when the person arrives.

    The review works without it (the scan's flags, by hand), so a job that cannot be queued is said, not fatal.
    """
    options = dict(current_app.config.get("REVIEW_OPTIONS") or {})
    try:
        row = tasks.enqueue("review", {**options, "dataset": request.dataset}, _user(build))
    except (AppError, RedisUnavailable) as exc:
        step["error"] = f"The search for suspect pictures could not start ({exc.message}); review by hand."
        return
    step["jobs"] = [row.id]


def _watch_review(build: Build, step: dict) -> None:
    """The waiting review: its suspects job's progress, and "Done reviewing" pressed since the step began ends it."""
    rows = _job_rows(step)
    active = [r for r in rows if r.active]
    if active:
        tasks.reconcile(active)
    found = next((r for r in rows if r.status == "finished"), None)
    if found is not None:
        step["counts"] = {"suspects": (found.result or {}).get("suspects"), "checked": (found.result or {}).get("checked")}
    done = read_decisions(Path(current_app.config["DATA_DIR"]) / build.dataset)["done"]
    try:
        pressed = datetime.fromisoformat(str((done or {}).get("time")))
    except ValueError:
        return
    # "done" is written to the second: a press in the step's first second still counts
    if pressed >= datetime.fromisoformat(step["started_at"]).replace(microsecond=0):
        _stop_suspects(step)
        step.update(status="finished", finished_at=iso(utcnow()))


def _stop_suspects(step: dict) -> None:
    """The person is done reviewing: a suspects job still at work would answer too late."""
    for row in _job_rows(step):
        if row.active:
            try:
                tasks.cancel(row.id)
            except AppError:
                pass  # it had ended meanwhile


def _job_rows(step: dict) -> list[Job]:
    rows = [db.session.get(Job, job_id) for job_id in step["jobs"]]
    return [r for r in rows if r is not None]


def _update(step: dict, build: Build) -> None:
    """The step's counts from its jobs, and its outcome once they have all ended."""
    rows = _job_rows(step)
    active = [r for r in rows if r.active]
    if active:
        tasks.reconcile(active)
    step["counts"] = _counts(step["name"], rows, build)
    if any(r.active for r in rows):
        return
    failed = [r for r in rows if r.status == "failed"]
    if failed:
        step.update(status="failed", error="; ".join(dict.fromkeys(r.error or r.status for r in failed)))
    elif any(r.status == "cancelled" for r in rows) or not rows:
        step["status"] = "cancelled"
    else:
        step["status"] = "finished"
    step["finished_at"] = iso(utcnow())


def _class_pictures(build: Build, name: str) -> int:
    """The pictures a class folder of the build's dataset holds now (the crawl's count, live or after a failure)."""
    root = Path(current_app.config["DATA_DIR"]) / build.dataset
    return len(list_class_files(root, name)) if (root / name).is_dir() else 0


def _counts(name: str, rows: list[Job], build: Build) -> dict[str, Any]:
    """What a step's jobs say, in numbers: pictures per class, split sizes, accuracy."""
    done = [r.result or {} for r in rows if r.status == "finished"]
    if name == "crawl":
        request = _request(build)
        per_class = {c: _class_pictures(build, c) for c in request.class_names()}
        return {"classes": per_class, "pictures": sum(per_class.values()),
                "target": request.per_class * len(per_class), "jobs_finished": len(done), "jobs": len(rows)}
    if name in ("scan", "split") and done:
        counts = (done[-1].get("split") or {}).get("counts") or {}
        return {"parts": {part: sum(c.values()) if isinstance(c, dict) else c for part, c in counts.items()}}
    if name in ("train", "evaluate") and done:
        return {k: done[-1].get(k) for k in ("model_id", "accuracy") if done[-1].get(k) is not None}
    return {}


def job_ended(job_id: str) -> None:
    """A job has ended: move on the build it belongs to (called by the worker's job host)."""
    for build in db.session.execute(db.select(Build).where(Build.status == "running")).scalars():
        if any(job_id in step["jobs"] for step in build.steps):
            advance(build)


# -- what a person does -------------------------------------------------------------------------------
def cancel(build_id: int) -> Build:
    """Stop the build at its current step: its queued jobs are dropped, its running ones asked to stop."""
    build = get_build(build_id)
    if not build.active:
        raise Conflict(f"The build is already {build.status}.")
    with _lock(build.id):
        db.session.refresh(build)
        steps = copy.deepcopy(build.steps)
        step = next((s for s in steps if s["status"] in ("running", "waiting")), None)
        if step is None:
            raise Conflict("The build has no step in progress to cancel.")
        for job_id in step["jobs"]:
            try:
                tasks.cancel(job_id)
            except AppError:
                pass  # it had ended meanwhile
        step.update(status="cancelled", finished_at=iso(utcnow()))
        _save(build, steps)
    return build


def retry(build_id: int) -> Build:
    """Run the failed or cancelled step again: only its jobs that did not finish (a finished crawl is kept)."""
    build = get_build(build_id)
    if build.status not in ("failed", "cancelled"):
        raise Conflict(f"The build is {build.status}; only a failed or cancelled build can be retried.")
    user = _user(build)
    with _lock(build.id):
        db.session.refresh(build)
        steps = copy.deepcopy(build.steps)
        step = next((s for s in steps if s["status"] in ("failed", "cancelled")), None)
        if step is None:
            raise Conflict("The build has no failed or cancelled step to retry.")
        rows = _job_rows(step)
        if step["name"] in WAITING_STEPS:
            step.update(status="waiting", error=None, finished_at=None)
        elif step["name"] == "crawl" and rows:
            step["jobs"] = [r.id for r in rows if r.status == "finished"] + [_crawl_again(build, step, rows, user)]
            step.update(status="running", error=None, finished_at=None)
        elif not rows or len(rows) != len(step["jobs"]):
            step.update(status="pending", jobs=[])
        else:
            try:
                step["jobs"] = [tasks.retry(r.id, user).id if r.status in ("failed", "cancelled") else r.id
                                for r in rows]
            except (AppError, RedisUnavailable) as exc:
                raise Conflict(exc.message) from None
            step.update(status="running", error=None, finished_at=None)
        _save(build, steps)
    return advance(build)


def _crawl_again(build: Build, step: dict, rows: list[Job], user: User | None) -> str:
    """One crawl of the classes still short of their pictures (a class that filled its folder is not searched again)."""
    request = _request(build)
    short = [c for c in request.class_names() if _class_pictures(build, c) < request.per_class]
    last = next((r for r in reversed(rows) if r.status in ("failed", "cancelled")), rows[-1])
    try:
        row = tasks.enqueue("crawl_classes", {"dataset": request.dataset,
                                              **request.crawl_classes(short or None).to_dict()},
                            user, retry_of=last.id)
    except (AppError, RedisUnavailable) as exc:
        raise Conflict(exc.message) from None
    return row.id


def continue_after_review(build_id: int) -> Build:
    """The pictures were looked through: split the dataset again and train."""
    return _confirm(build_id, "review")


def confirm_activation(build_id: int, *, via: str = "admin", user: User | None = None) -> Build:
    """Make the build's evaluated model the one that answers predictions (recorded in the activation history)."""
    return _confirm(build_id, "activate", via=via, user=user)


def _confirm(build_id: int, name: str, *, via: str = "admin", user: User | None = None) -> Build:
    build = get_build(build_id)
    step = next(s for s in build.steps if s["name"] == name)
    if step["status"] != "waiting":
        raise Conflict(f"The build is not waiting for the {name} step (it is {step['status']}).")
    with _lock(build.id):
        db.session.refresh(build)
        steps = copy.deepcopy(build.steps)
        step = next(s for s in steps if s["name"] == name)
        if name == "activate":
            activate_model(build.model_id, via=via, user=user)
            step["counts"] = {"model_id": build.model_id}
        else:
            _stop_suspects(step)
        step.update(status="finished", finished_at=iso(utcnow()))
        _save(build, steps)
    return advance(build)


# -- what the timeline shows --------------------------------------------------------------------------
def _seconds(start: str | None, end: str | None) -> float | None:
    if not start:
        return None
    begin = datetime.fromisoformat(start)
    stop = datetime.fromisoformat(end) if end else utcnow()
    return max((stop - begin).total_seconds(), 0.0)


def step_view(step: dict) -> dict[str, Any]:
    """One step for the timeline: its state, jobs with live progress, elapsed seconds and an estimate of the rest."""
    rows = _job_rows(step)
    jobs = [{"id": r.id, "kind": r.kind, "status": r.status, "progress": round(r.current_progress, 4),
             "stage": r.current_stage, "error": r.error,
             "class_name": r.params.get("class_name") or ", ".join(c.get("class_name") or "" for c in
                                                                   r.params.get("classes") or [])} for r in rows]
    if step["status"] == "finished":
        progress = 1.0
    else:
        progress = sum(j["progress"] if j["status"] != "finished" else 1.0 for j in jobs) / len(jobs) if jobs else 0.0
    elapsed = _seconds(step["started_at"], step["finished_at"])
    remaining = None
    if step["status"] == "running" and elapsed and 0.02 <= progress < 1:
        remaining = round(elapsed * (1 - progress) / progress, 1)
    return {**step, "progress": round(progress, 4), "elapsed_s": elapsed and round(elapsed, 1),
            "remaining_s": remaining, "job_details": jobs}


#: Seconds a scan (or split) takes per picture before one was measured (16 pictures: 0.3 s on one core).
SCAN_SECONDS_PER_PICTURE = 0.02
#: Seconds an evaluation takes per test picture before one was measured (a small model on a CPU).
EVALUATE_SECONDS_PER_PICTURE = 0.05


def _train_left(view: dict) -> float | None:
    """The training loop's own estimate (measured from its steps so far), else the step's extrapolation."""
    live = [r.live for r in _job_rows(view) if r.active and r.live and r.live.get("stage") == "train"]
    if live and live[-1].get("eta_s") is not None:
        return float(live[-1]["eta_s"])
    return view["remaining_s"]


def _crawl_left(view: dict) -> float | None:
    """The pictures still to fetch at the rate measured so far (every class crawls at once)."""
    counts, elapsed = view["counts"], view["elapsed_s"]
    got, target = counts.get("pictures") or 0, counts.get("target") or 0
    if got and elapsed and target > got:
        return elapsed * (target - got) / got
    return view["remaining_s"] if target > got or not target else 0.0


def build_estimate(build: Build, views: list[dict]) -> dict[str, Any] | None:
    """The rest of the whole build, in seconds: finished steps count nothing, the running one its measured
    rate, the pending ones a simple per-step estimate; `unknown`: steps not yet measurable (training before
    it starts); the person's review and confirmation are not counted. None once the build has ended."""
    if not build.active:
        return None
    request = _request(build)
    by_name = {v["name"]: v for v in views}
    pictures = request.per_class * len(request.classes)
    crawl = by_name["crawl"]["counts"]
    if by_name["crawl"]["status"] == "finished" and crawl.get("pictures"):
        pictures = crawl["pictures"]
    scan = by_name["scan"]
    per_picture = SCAN_SECONDS_PER_PICTURE
    if scan["status"] == "finished" and scan["elapsed_s"] and pictures:
        per_picture = scan["elapsed_s"] / pictures
    test_share = SplitConfig().test  # the build splits with the split's defaults
    left, unknown, person = 0.0, [], []
    for view in views:
        name, status = view["name"], view["status"]
        if status in ("finished", "skipped", "failed", "cancelled"):
            continue
        if name in WAITING_STEPS:
            person.append(name)
            if status == "waiting" and view["remaining_s"] is not None:
                left += view["remaining_s"]  # the review's suspects job, still at work
            continue
        running = status == "running"
        if name == "crawl":
            part = _crawl_left(view)
        elif name in ("scan", "split"):
            part = view["remaining_s"] if running else pictures * per_picture
        elif name == "train":
            part = _train_left(view) if running else None
        else:
            part = view["remaining_s"] if running else pictures * test_share * EVALUATE_SECONDS_PER_PICTURE
        if part is None:
            unknown.append(name)
        else:
            left += part
    return {"remaining_s": round(left, 1), "unknown": unknown, "not_counted": person}


def build_view(build: Build) -> dict[str, Any]:
    """The build as JSON: its declaration, status, steps (with progress and times), the estimate of the rest, its model."""
    views = [step_view(s) for s in build.steps]
    return {"id": build.id, "dataset": build.dataset, "status": build.status, "error": build.error,
            "request": build.request, "model_id": build.model_id, "steps": views,
            "estimate": build_estimate(build, views),
            "created_by": build.created_by.username if build.created_by else None,
            "created_at": iso(build.created_at), "finished_at": iso(build.finished_at),
            "elapsed_s": round(_seconds(iso(build.created_at), iso(build.finished_at)) or 0.0, 1)}
