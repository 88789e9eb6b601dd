"""How much slower a Raspberry Pi 4 core runs the agent's kind of work than this machine's: a reasoned
ratio from one published figure, not a measurement on a board.

The published figure: the n-body simulation (the Computer Language Benchmarks Game's program: five
bodies, 5,000,000 steps of 0.01) took 158.3 s in CPython on a Raspberry Pi 4 Model B, 1.5 GHz
Cortex-A72, performance governor (chaitanyamehta.github.io, "Performance Analysis of Languages on
Raspberry Pi"). The same program is run here, in the project's interpreter, and the ratio printed;
the agent's CPU measured here (docs/benchmarks.md, "Playout") times the ratio is what a Pi 4 core
would need. n-body is pure interpreter work (float arithmetic on Python lists), as the agent's is
outside libopus; an interpreter newer than the published run's makes this machine look faster.

    .venv/bin/python -m benchmarks.pi_ratio            # 5,000,000 steps, as published
    .venv/bin/python -m benchmarks.pi_ratio --steps 500000
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

from benchmarks.stack import machine

PI4_SECONDS = 158.3  # the published run, 5,000,000 steps
PUBLISHED_STEPS = 5_000_000
DAYS_PER_YEAR = 365.24
SOLAR_MASS = 4 * math.pi * math.pi

# x, y, z (AU), vx, vy, vz (AU a year), mass: the Sun and the four giant planets
BODIES = {
    "sun": ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], SOLAR_MASS),
    "jupiter": ([4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01],
                [1.66007664274403694e-03 * DAYS_PER_YEAR, 7.69901118419740425e-03 * DAYS_PER_YEAR,
                 -6.90460016972063023e-05 * DAYS_PER_YEAR], 9.54791938424326609e-04 * SOLAR_MASS),
    "saturn": ([8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01],
               [-2.76742510726862411e-03 * DAYS_PER_YEAR, 4.99852801234917238e-03 * DAYS_PER_YEAR,
                2.30417297573763929e-05 * DAYS_PER_YEAR], 2.85885980666130812e-04 * SOLAR_MASS),
    "uranus": ([1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01],
               [2.96460137564761618e-03 * DAYS_PER_YEAR, 2.37847173959480950e-03 * DAYS_PER_YEAR,
                -2.96589568540237556e-05 * DAYS_PER_YEAR], 4.36624404335156298e-05 * SOLAR_MASS),
    "neptune": ([1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01],
                [2.68067772490389322e-03 * DAYS_PER_YEAR, 1.62824170038242295e-03 * DAYS_PER_YEAR,
                 -9.51592254519715870e-05 * DAYS_PER_YEAR], 5.15138902046611451e-05 * SOLAR_MASS),
}


def simulate(steps: int, dt: float = 0.01) -> float:
    """Advance the five bodies steps times; returns the system's energy at the end (a check)."""
    bodies = [([*r], [*v], m) for r, v, m in BODIES.values()]
    pairs = [(bodies[i], bodies[j]) for i in range(len(bodies)) for j in range(i + 1, len(bodies))]
    _offset_momentum(bodies)
    for _ in range(steps):
        for (r1, v1, m1), (r2, v2, m2) in pairs:
            dx, dy, dz = r1[0] - r2[0], r1[1] - r2[1], r1[2] - r2[2]
            magnitude = dt * (dx * dx + dy * dy + dz * dz) ** -1.5
            b1, b2 = m1 * magnitude, m2 * magnitude
            v1[0] -= dx * b2
            v1[1] -= dy * b2
            v1[2] -= dz * b2
            v2[0] += dx * b1
            v2[1] += dy * b1
            v2[2] += dz * b1
        for r, v, _m in bodies:
            r[0] += dt * v[0]
            r[1] += dt * v[1]
            r[2] += dt * v[2]
    return _energy(bodies, pairs)


def _offset_momentum(bodies: list[tuple[list[float], list[float], float]]) -> None:
    px = sum(v[0] * m for _, v, m in bodies)
    py = sum(v[1] * m for _, v, m in bodies)
    pz = sum(v[2] * m for _, v, m in bodies)
    sun_v = bodies[0][1]
    sun_v[0], sun_v[1], sun_v[2] = -px / SOLAR_MASS, -py / SOLAR_MASS, -pz / SOLAR_MASS


def _energy(bodies: list[tuple[list[float], list[float], float]],
            pairs: list[tuple[tuple[list[float], list[float], float], ...]]) -> float:
    kinetic = sum(0.5 * m * (v[0] ** 2 + v[1] ** 2 + v[2] ** 2) for _, v, m in bodies)
    potential = sum(m1 * m2 / math.dist(r1, r2) for (r1, _, m1), (r2, _, m2) in pairs)
    return kinetic - potential


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=PUBLISHED_STEPS)
    args = parser.parse_args()
    started = time.process_time()
    energy = simulate(args.steps)
    seconds = time.process_time() - started
    here = seconds * PUBLISHED_STEPS / args.steps
    print(json.dumps({"steps": args.steps, "cpu_s": round(seconds, 1), "energy": round(energy, 9),
                      "cpu_s_for_published_steps": round(here, 1), "pi4_s": PI4_SECONDS,
                      "pi4_slower_by": round(PI4_SECONDS / here, 1), "python": platform.python_version(),
                      "machine": machine()}))


if __name__ == "__main__":
    main()
