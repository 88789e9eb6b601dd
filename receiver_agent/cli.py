"""`receiver-agent`: enrol, run, simulate many, and check a device (doctor)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, cast

from loalang_protocol.mqtt import AuthenticationFailed

from . import logbuffer

DEFAULT_CONFIG = "/etc/loalang/agent.toml"
EXIT_AUTH = 3
EXIT_RESTART = 75  # ended to start again (systemd's Restart=always) into a newly installed release
RENEW_LOGIN_EVERY_S = 60.0  # a login refused right after its renewal is not renewed again at once


def cmd_enroll(args: argparse.Namespace) -> int:
    """Enrol this device with a claim code."""
    from .enrolment import EnrolmentError, enroll

    try:
        config = enroll(args.controller, args.code, Path(args.config),
                        Path(args.data_dir) if args.data_dir else None, args.allow_plain_http,
                        Path(args.ca_file) if args.ca_file else None)
    except EnrolmentError as exc:
        print(f"enrolment failed: {exc}", file=sys.stderr)
        return 2
    print(f"enrolled as {config.device_id} in {' / '.join(config.areas)}; configuration in {args.config}")
    return 0


def _dump_tasks() -> None:
    """Print every asyncio task's stack (SIGUSR2), for a technician chasing a stuck agent."""
    for task in asyncio.all_tasks():
        chain, coroutine = [], cast(Any, task.get_coro())
        while coroutine is not None and hasattr(coroutine, "cr_frame"):
            frame = coroutine.cr_frame
            if frame is not None:
                chain.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
            coroutine = coroutine.cr_await
        print(f"task {task.get_name()}: " + " -> ".join(chain), file=sys.stderr)


async def _serve(run: Coroutine[Any, Any, None], stop: Callable[[], Awaitable[None]]) -> None:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR2, _dump_tasks)
    task = asyncio.ensure_future(run)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        await stop()


def cmd_run(args: argparse.Namespace) -> int:
    """Run the agent until stopped. When the broker refuses the device's login, ask the controller
    for a new one once (at most once a minute) and run again with it."""
    from .agent import Agent
    from .broker_login import renew
    from .config import ConfigError, load
    from .sinks import make_microphone, make_sink

    path = Path(args.config)
    try:
        config = load(path)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    renewed_at = -RENEW_LOGIN_EVERY_S
    while True:
        try:
            sink = make_sink(config)
            agent = Agent(config, sink, config_path=path, microphone=make_microphone(config, sink))
        except (OSError, ValueError) as exc:
            print(f"configuration error: cannot load the device's keys ({exc}); enrol again with a new code",
                  file=sys.stderr)
            return 2
        try:
            asyncio.run(_serve(agent.run(), agent.stop))
            return EXIT_RESTART if agent.restart_requested else 0
        except AuthenticationFailed as exc:
            refused = exc
        renewed = None
        if time.monotonic() - renewed_at >= RENEW_LOGIN_EVERY_S:
            renewed_at = time.monotonic()
            renewed = renew(config, path, agent.key)
        if renewed is None:
            print(f"the broker refused this device: {refused}; enrol again with a new claim code",
                  file=sys.stderr)
            return EXIT_AUTH
        config = renewed


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run N simulated receivers in one process or several."""
    from .enrolment import EnrolmentError
    from .simulate import Registrar, Simulation, prepare_receivers, run_fleet

    password = os.environ.get("LOALANG_SIM_ADMIN_PASSWORD")
    registrar = Registrar(args.controller, args.admin_user, password) if password else None
    try:
        paths = prepare_receivers(Path(args.data_dir), args.count, args.area or ["default"], registrar,
                                  args.controller, args.prefix, args.allow_plain_http)
    except EnrolmentError as exc:
        print(f"cannot enrol simulated receivers: {exc}", file=sys.stderr)
        return 2
    simulation = Simulation(telemetry_interval_s=args.telemetry_interval,
                            clock_interval_s=args.clock_interval, null_audio=args.null_audio,
                            decode_every=args.decode_every)
    run_fleet(paths, simulation, args.processes)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check configuration, broker, login, clock, audio and disk."""
    from .doctor import run_checks

    verdicts = run_checks(Path(args.config))
    for verdict in verdicts:
        print(verdict.line())
    failed = [v.name for v in verdicts if not v.ok]
    print("all checks passed" if not failed else f"{len(failed)} check(s) failed: {', '.join(failed)}")
    return 1 if failed else 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print the device's state from its own files (no network needed)."""
    from .config import ConfigError, load
    from .status import collect, render_json, render_text

    try:
        config = load(Path(args.config))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    status = collect(config)
    print(render_json(status) if args.json else render_text(status))
    return 0


def cmd_amplifier_off(args: argparse.Namespace) -> int:
    """Switch the amplifier off (the service manager runs this after the agent stops)."""
    from .config import ConfigError, load
    from .relays import make_relay

    try:
        make_relay(load(Path(args.config))).set(False)
    except (ConfigError, OSError) as exc:
        print(f"cannot switch the amplifier off: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    """List what a simulated sound card played: when each play started, how long, where in card.wav."""
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from .audio.simulated import played_stretches, read_recording

    try:
        zone = ZoneInfo(args.timezone) if args.timezone else None
    except (ZoneInfoNotFoundError, ValueError):
        print(f"unknown time zone: {args.timezone}", file=sys.stderr)
        return 2
    folder = Path(args.folder)
    if not (folder / "card.times").is_file():
        print(f"no simulated card recording in {folder} (card.wav and card.times)", file=sys.stderr)
        return 2
    for stretch in played_stretches(read_recording(folder)[1]):
        started = datetime.fromtimestamp(stretch.started, zone).astimezone(zone)
        print(f"{started.isoformat(timespec='milliseconds')}  {stretch.length_s:7.2f} s  "
              f"at {stretch.wav_offset_s:.2f} s in card.wav")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="receiver-agent", description=__doc__)
    parser.add_argument("--log-level", default=os.environ.get("LOALANG_LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True)
    enroll = sub.add_parser("enroll", help="enrol this device with a claim code")
    enroll.add_argument("--controller", required=True, help="controller URL, e.g. https://radio.example.vn")
    enroll.add_argument("--code", required=True, help="the one-time claim code shown in the console")
    enroll.add_argument("--config", default=DEFAULT_CONFIG)
    enroll.add_argument("--data-dir", help="where key, state and media live (default: the config's folder)")
    enroll.add_argument("--ca-file", help="the CA certificate of the controller's HTTPS, when it is the "
                                          "province's own CA (default: the system's CA store); kept for "
                                          "every later request to the controller")
    _plain_http_option(enroll)
    enroll.set_defaults(func=cmd_enroll)
    run = sub.add_parser("run", help="run the agent")
    run.add_argument("--config", default=DEFAULT_CONFIG)
    run.set_defaults(func=cmd_run)
    simulate = sub.add_parser("simulate", help="run N simulated receivers")
    simulate.add_argument("--count", type=int, required=True)
    simulate.add_argument("--controller", default="http://127.0.0.1:8000")
    simulate.add_argument("--data-dir", default="data/receivers")
    simulate.add_argument("--area", action="append", help="area for new receivers (repeat to alternate)")
    simulate.add_argument("--admin-user", default="admin",
                          help="admin who registers new receivers (password in LOALANG_SIM_ADMIN_PASSWORD)")
    simulate.add_argument("--prefix", default="sim", help="device id prefix")
    simulate.add_argument("--telemetry-interval", type=float, default=None)
    simulate.add_argument("--clock-interval", type=float, default=None,
                          help="seconds between clock exchanges (default: each configuration's)")
    simulate.add_argument("--processes", type=int, default=1, help="spread the receivers over this many "
                          "processes (a province: about one per 2,500 receivers)")
    simulate.add_argument("--null-audio", action="store_true",
                          help="the null sound card and no decoder: time kept, nothing sounded (thousands)")
    simulate.add_argument("--decode-every", type=int, default=0, metavar="N",
                          help="with --null-audio, every Nth receiver still decodes onto the simulated card")
    _plain_http_option(simulate)
    simulate.set_defaults(func=cmd_simulate)
    status = sub.add_parser("status", help="print the device's state from disk, even offline")
    status.add_argument("--config", default=DEFAULT_CONFIG)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    amp_off = sub.add_parser("amplifier-off", help="switch the amplifier off (for the service manager)")
    amp_off.add_argument("--config", default=DEFAULT_CONFIG)
    amp_off.set_defaults(func=cmd_amplifier_off)
    doctor = sub.add_parser("doctor", help="check this device and print a verdict per check")
    doctor.add_argument("--config", default=DEFAULT_CONFIG)
    doctor.set_defaults(func=cmd_doctor)
    card = sub.add_parser("card", help="list what a simulated sound card played (the demo's receivers)")
    card.add_argument("folder", help="the card's folder, e.g. data/demo/receivers/sim-1/card")
    card.add_argument("--timezone", help="show times in this zone (default: this machine's)")
    card.set_defaults(func=cmd_card)
    return parser


def _plain_http_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-plain-http", action="store_true",
                        help="lab only: enrol over plain http:// to another machine (a closed network such "
                             "as the Docker demo's); the claim code crosses in clear")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `receiver-agent`."""
    args = build_parser().parse_args(argv)
    for option, lowest in (("count", 1), ("processes", 1), ("decode_every", 0)):
        if getattr(args, option, lowest) < lowest:
            print(f"--{option.replace('_', '-')} must be at least {lowest}", file=sys.stderr)
            return 2
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logbuffer.install()
    with contextlib.suppress(AttributeError, ValueError, OSError):  # no real stderr when embedded
        faulthandler.register(signal.SIGUSR1)  # `kill -USR1` prints every thread's stack to the log
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
