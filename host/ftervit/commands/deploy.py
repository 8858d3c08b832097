"""`ftervit deploy --port PORT MODEL.ftv`: put a model and the device code onto the board."""


def register(sub):
    p = sub.add_parser("deploy", help="copy a .ftv model and the device code to the board",
                       description="Check the board, copy the model, the device package and "
                                   "(if the firmware lacks it) the native module, each only if "
                                   "its SHA-256 differs on the board, verify them and run the "
                                   "model's self-test there. The board must run "
                                   "device/serve.py (mpremote run device/serve.py).")
    p.add_argument("model", help=".ftv model file")
    p.add_argument("--port", required=True, help="the board's serial port (e.g. /dev/ttyACM0)")
    p.add_argument("--firmware", metavar="FILE",
                   help="flash this MicroPython firmware image first (esptool, offset 0x0)")
    p.add_argument("--erase", action="store_true", help="erase the flash before --firmware")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (files, esptool calls) and touch nothing")
    p.add_argument("--files-only", action="store_true",
                   help="copy and verify the files; skip the native-module check and self-test")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per request (default 5)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..board.deploy import format_plan, plan_deploy
    from ..files import check_input_file
    from ..ftv import read_ftv
    read_ftv(args.model)  # the whole file checked here: nothing broken goes to the board
    if args.firmware:
        check_input_file(args.firmware, "a MicroPython firmware image (.bin)")
    plan = plan_deploy(args.port, args.model, args.firmware, args.erase)
    if args.dry_run:
        print(format_plan(plan))
        return 0
    if plan.esptool_calls:
        flash_firmware(args.port, args.firmware, plan.firmware_offset, args.erase)
    return copy_and_check(args, plan)


def flash_firmware(port, firmware, offset, erase) -> None:
    from esptool import cmds

    from ..board.deploy import check_chip, psram_of
    with cmds.detect_chip(port) as esp:
        check_chip(esp)
        print(f"{esp.CHIP_NAME}, PSRAM: {psram_of(esp.get_chip_features()) or 'none in package'}")
        esp = cmds.run_stub(esp)
        cmds.attach_flash(esp)
        if erase:
            cmds.erase_flash(esp)
        cmds.write_flash(esp, [(offset, str(firmware))])
        esp.hard_reset()


def copy_and_check(args, plan) -> int:
    from ..board.deploy import check_board, copy_files, mpy_arch
    from ..board.link import BoardError, BoardLink, LinkError
    from ..cli import CommandError
    try:
        link = BoardLink.open(args.port, timeout=args.timeout)
    except LinkError as exc:
        raise CommandError(str(exc)) from None
    try:
        info = link.request("info")
        arch = mpy_arch(int(info["mpy"]))
        print(f"board: MicroPython {info['version']} ({info['platform']}, mpy arch {arch}), "
              f"{int(info['mem_free']):,} B heap free, {native_module_text(info)}")
        files = plan.files_for(arch, native_built_in(info))
        if not args.files_only:
            problems = check_board(info, plan.files[0].size, plan)
            if problems:
                raise CommandError("; ".join(problems))
        results = copy_files(link, files, progress_factory=TransferBar)
        copied = sum(1 for r in results if not r.skipped)
        print(f"{copied} of {len(results)} files copied, the rest unchanged")
        if not args.files_only:
            answer = link.request("selftest", path=plan.files[0].dest, timeout=120.0)
            print(f"self-test on the board: PASS ({answer['ms']:.0f} ms)")
    except (LinkError, BoardError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        link.close()
    return 0


class TransferBar:
    """One file's bytes on their way to the board: a tqdm bar on stderr whose rate is the
    measured bytes per second, drawn only when stderr is a terminal."""

    def __init__(self, planned):
        import sys

        from tqdm import tqdm
        self.bar = tqdm(total=planned.size, desc=planned.dest, unit="B", unit_scale=True,
                        unit_divisor=1024, leave=False, disable=not sys.stderr.isatty())

    def __call__(self, offset: int, total: int) -> None:
        self.bar.update(offset - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def native_built_in(info) -> bool:
    """_ftervit is part of the firmware (not an .mpy on the path, which is copied and
    checked like the other files; a serve.py without native_file counts it as built in)."""
    return bool(info.get("native_module")) and not info.get("native_file")


def native_module_text(info) -> str:
    if native_built_in(info):
        return "native module built in"
    if info.get("native_module"):
        return f"native module {info['native_file']} (an .mpy)"
    return "native module not built in"
