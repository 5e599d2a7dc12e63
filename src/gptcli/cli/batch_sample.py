"""``batch --sample N``: N items chosen evenly, run on each model, and the whole file projected.

The whole file is planned first (its prompt tokens per model, nothing sent), then only
the sampled items are planned (``--max-cost`` applies to the sample) and run; the
records are the sampled answers, written as any batch writes them. The projection
(``batch.fanout.project``) comes back with the Summary.
"""

from typing import Any


def run_sample(job: Any, mode: Any, progress: Any, n: int) -> tuple[Any, Any]:
    """The sample's Summary (None with --dry-run, after printing its plan) and the projections."""
    from .. import batch as batches
    from .. import render
    from ..batch import fanout

    def on_event(event: Any) -> None:
        if isinstance(event, batches.Progress):
            progress.update(event)
        else:
            progress.notice(event.text, event.level)

    if not mode.dry_run:
        job.lock()
    from dataclasses import replace

    opts = job.opts
    job.opts = replace(opts, max_cost=None)  # --max-cost is for the sample, not the file it is taken from
    try:
        whole = job.plan(exact=False, on_event=on_event, check_budget=False)
    finally:
        job.opts = opts
    per_model = whole.items // max(1, len(job.opts.models))
    job.source.keep = fanout.pick(per_model, n, job.opts.seed)
    sample = job.plan(exact=mode.dry_run, on_event=on_event, check_budget=not mode.dry_run)
    if mode.dry_run:
        render.print_json(sample.to_dict())
        job.check_budget(sample)
        return None, None
    progress.notice(f"sample: {len(job.source.keep):,} of {per_model:,} items, on each model", "info")
    progress.notice(render.batch_plan_text(sample), "info")
    progress.start(sample.to_send)
    summary = job.run(sample, on_event)
    return summary, fanout.project(whole, sample, summary, job.opts.concurrency)
