"""The whole study report for a large simulated study, timed per stage; print JSON.

    python benchmarks/analysis.py [--participants 10000] [--test-trials 15] [--out DIR]

Generates a study (``analysis.stats.simulated_study``: 3 scenarios × 3 reducers, 5 training
+ 15 test trials per participant, a description of each of the 5 candidates per trial, 5
questionnaire items), then runs ``build_report`` and ``write_report`` with the bundled
word vectors and pseudonymised IDs, and reports the seconds of every stage. The target
(issue 10): the whole report for 10,000 participants × 20 trials in under 30 s on 2 cores.
Generating the data is timed separately and is not part of the report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.stats.methods import software_versions  # noqa: E402
from analysis.stats.report import ReportSettings, build_report, write_report  # noqa: E402
from analysis.stats.simulated_study import simulated_study  # noqa: E402
from analysis.stats.word_vectors import load_word_vectors  # noqa: E402

TARGET_SECONDS = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--test-trials", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="keep the report here")
    args = parser.parse_args()

    started = time.perf_counter()
    study = simulated_study(args.participants, n_test=args.test_trials, seed=args.seed)
    generate = time.perf_counter() - started

    load_average = os.getloadavg()[0]
    settings = ReportSettings(study="benchmark", pseudonym_key="benchmark-key-not-a-secret-0123")
    started, cpu_started = time.perf_counter(), time.process_time()
    vectors = load_word_vectors(settings.word_vectors)
    load_vectors = time.perf_counter() - started
    load_vectors_cpu = time.process_time() - cpu_started
    report = build_report(
        responses=study.responses,
        participants=study.participants,
        descriptions=study.descriptions,
        questionnaire=study.questionnaire,
        concepts=study.concepts,
        settings=settings,
        vectors=vectors,
    )
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        paths = write_report(report, out)
        sizes = {name: path.stat().st_size for name, path in paths.items()}
    stages = {"word_vectors": round(load_vectors, 3), **report.timings}
    cpu = {"word_vectors": round(load_vectors_cpu, 3), **report.cpu_timings}
    total = round(sum(stages.values()), 3)
    cpu_total = round(sum(cpu.values()), 3)
    print(
        json.dumps(
            {
                "participants": args.participants,
                "trials_per_participant": 5 + args.test_trials,
                "responses": len(study.responses),
                "descriptions": len(study.descriptions),
                "questionnaire_answers": len(study.questionnaire),
                "generate_seconds": round(generate, 3),
                "report_seconds": total,
                "report_cpu_seconds": cpu_total,
                "target_seconds": TARGET_SECONDS,
                "meets_target": total < TARGET_SECONDS,
                "stages_seconds": stages,
                "stages_cpu_seconds": cpu,
                "file_bytes": sizes,
                "notes": len(report.notes),
                "machine": {
                    "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(),
                    "load_average_1min_at_start": round(load_average, 2),
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2),
                },
                "software": software_versions(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
