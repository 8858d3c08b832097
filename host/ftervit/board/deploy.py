"""`ftervit deploy`: what goes onto the board, the esptool calls that flash firmware, and
the copy itself (only what changed, by SHA-256).  No torch.

The plan is worked out on the host alone (so `--dry-run` needs no board); the run then
checks the board (chip through esptool, MicroPython's mpy arch, heap, native module)
and copies the planned files over the binary transfer of device/serve.py.
"""
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

from ..resources import resource_dir

CHIP = "esp32s3"           # esptool's --chip name for the board FTerViT targets
CHIP_NAME = "ESP32-S3"     # esptool's ESPLoader.CHIP_NAME for it
FLASH_BAUD = 460800
BOARD_MODEL_PATH = "model.ftv"   # the device package's default ftervit.load(path="/model.ftv")
BOARD_LIB = "lib"                # on MicroPython's sys.path on every port
# sys.implementation._mpy >> 10 (py/persistentcode.h MP_NATIVE_ARCH_*)
MPY_ARCHS = {0: "none", 1: "x86", 2: "x64", 3: "armv6", 4: "armv6m", 5: "armv7m",
             6: "armv7em", 7: "armv7emsp", 8: "armv7emdp", 9: "xtensa", 10: "xtensawin",
             11: "rv32imc", 12: "rv64imc"}
NATIVE_MODULE = "_ftervit"
DEVICE_SCRIPTS = ("serve.py", "classify.py")


@dataclass(frozen=True)
class PlannedFile:
    source: Path
    dest: str      # path on the board, relative to its current folder (/ on a board)
    size: int
    sha256: str

    @classmethod
    def of(cls, source: Path, dest: str) -> "PlannedFile":
        data = Path(source).read_bytes()
        return cls(Path(source), dest, len(data), hashlib.sha256(data).hexdigest())


@dataclass
class DeployPlan:
    port: str
    files: List[PlannedFile]
    native: dict                 # arch -> PlannedFile of a prebuilt _ftervit.mpy
    esptool_calls: List[List[str]] = field(default_factory=list)
    firmware_offset: Optional[int] = None

    def files_for(self, arch: Optional[str], native_built_in: bool) -> List[PlannedFile]:
        """The files to copy to a board of this mpy arch."""
        if native_built_in or arch is None or arch not in self.native:
            return list(self.files)
        return list(self.files) + [self.native[arch]]


def mpy_arch(mpy_value: int) -> str:
    """The native arch name of sys.implementation._mpy (or of an .mpy header's third byte
    shifted into place)."""
    return MPY_ARCHS.get(mpy_value >> 10, f"unknown arch {mpy_value >> 10}")


def mpy_file_arch(path: Path) -> Optional[str]:
    """The arch an .mpy file was built for (None for bytecode-only or not an .mpy)."""
    head = Path(path).read_bytes()[:4]
    if len(head) < 4 or head[0] != ord("M"):
        return None
    arch = head[2] >> 2
    return MPY_ARCHS.get(arch) if arch else None


def firmware_offset(chip_class) -> int:
    """Where a MicroPython firmware image (bootloader first) goes: the chip's bootloader
    offset, from esptool's own chip definition (ESP32-S3: 0x0; ESP32: 0x1000)."""
    return int(chip_class.BOOTLOADER_FLASH_OFFSET)


def esptool_calls(port: str, firmware: Path, offset: int, erase: bool) -> List[List[str]]:
    """The esptool command lines that flash `firmware`, as the user could type them."""
    base = ["esptool", "--chip", CHIP, "--port", port, "--baud", str(FLASH_BAUD)]
    calls = [base + ["erase-flash"]] if erase else []
    return calls + [base + ["write-flash", hex(offset), str(firmware)]]


def device_files(device_dir: Path) -> List[PlannedFile]:
    """The device package (device/ftervit/ -> lib/ftervit/) and the scripts beside it."""
    files = []
    package = device_dir / "ftervit"
    if package.is_dir():
        for source in sorted(package.rglob("*.py")):
            dest = f"{BOARD_LIB}/ftervit/{source.relative_to(package).as_posix()}"
            files.append(PlannedFile.of(source, dest))
    for name in DEVICE_SCRIPTS:
        if (device_dir / name).is_file():
            files.append(PlannedFile.of(device_dir / name, name))
    return files


def native_module_files(*folders: Path) -> dict:
    """Prebuilt _ftervit.mpy files found under `folders`, by the arch they were built for."""
    found = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob(f"{NATIVE_MODULE}*.mpy")):
            arch = mpy_file_arch(path)
            if arch and arch not in found:
                found[arch] = PlannedFile.of(path, f"{BOARD_LIB}/{NATIVE_MODULE}.mpy")
    return found


def plan_deploy(port: str, model: Path, firmware: Optional[Path] = None, erase: bool = False,
                device_dir: Optional[Path] = None) -> DeployPlan:
    model = Path(model)
    if not model.is_file():
        raise FileNotFoundError(f"{model}: no such model file (expected a .ftv)")
    if erase and firmware is None:
        raise ValueError("--erase needs --firmware: erasing the flash removes MicroPython")
    device_dir = Path(device_dir or resource_dir("device"))
    files = [PlannedFile.of(model, BOARD_MODEL_PATH)] + device_files(device_dir)
    if not any(f.dest == "serve.py" for f in files):
        raise FileNotFoundError(f"{device_dir}: no serve.py (expected the device/ folder)")
    plan = DeployPlan(port, files, native_module_files(resource_dir("native_module"), device_dir))
    if firmware is not None:
        firmware = Path(firmware)
        if not firmware.is_file():
            raise FileNotFoundError(f"--firmware {firmware}: no such file (expected a "
                                    "MicroPython .bin for the ESP32-S3)")
        from esptool.targets import CHIP_DEFS
        plan.firmware_offset = firmware_offset(CHIP_DEFS[CHIP])
        plan.esptool_calls = esptool_calls(port, firmware, plan.firmware_offset, erase)
    return plan


def format_plan(plan: DeployPlan) -> str:
    lines = [f"deploy plan for {plan.port} (dry run: nothing is sent to the board)"]
    if plan.esptool_calls:
        lines.append(f"1. flash the firmware (ESP32-S3 image at offset "
                     f"{hex(plan.firmware_offset)}):")
        lines += ["     " + " ".join(call) for call in plan.esptool_calls]
    else:
        lines.append("1. firmware: left as it is (no --firmware)")
    lines.append(f"2. check the board: chip {CHIP_NAME} (esptool), MicroPython's mpy arch "
                 "(sys.implementation._mpy), free heap for the model, and whether "
                 f"{NATIVE_MODULE} is built into the firmware")
    lines.append("3. copy, each only if the board's SHA-256 differs, then verify by SHA-256:")
    width = max(len(f.dest) for f in plan.files + list(plan.native.values()))
    for f in plan.files:
        lines.append(f"     {f.dest:<{width}} {f.size:>10,} B  sha256 {f.sha256[:16]}  "
                     f"<- {f.source}")
    if plan.native:
        for arch, f in sorted(plan.native.items()):
            lines.append(f"     {f.dest:<{width}} {f.size:>10,} B  sha256 {f.sha256[:16]}  "
                         f"<- {f.source}  (only if the firmware lacks {NATIVE_MODULE}; {arch})")
    else:
        lines.append(f"     (no prebuilt {NATIVE_MODULE}.mpy in this package: the firmware must "
                     "have the module built in)")
    total = sum(f.size for f in plan.files)
    lines.append(f"   {len(plan.files)} files, {total:,} bytes (before the native module)")
    lines.append(f"4. self-test on the board: ftervit.load({BOARD_MODEL_PATH!r}, selftest=True)")
    return "\n".join(lines)


# --- the run: what needs a board -------------------------------------------------

PSRAM_FEATURE = re.compile(r"(Embedded PSRAM [0-9]+MB)")


def psram_of(features: List[str]) -> Optional[str]:
    """The in-package PSRAM named in esptool's chip features, None if it reports none."""
    for feature in features:
        match = PSRAM_FEATURE.search(feature)
        if match:
            return match.group(1)
    return None


def check_chip(esp) -> None:
    """Refuse a board that is not an ESP32-S3 (esp: esptool's ESPLoader for the port)."""
    if esp.CHIP_NAME != CHIP_NAME:
        raise ValueError(f"the board is an {esp.CHIP_NAME}; FTerViT's firmware and native "
                         f"module are built for the {CHIP_NAME}")


def check_board(info: dict, model_size: int, plan: DeployPlan) -> List[str]:
    """Problems that stop the deploy, from serve.py's info answer (empty: go on)."""
    problems = []
    arch = mpy_arch(int(info.get("mpy", 0)))
    if not info.get("native_module") and arch not in plan.native:
        have = ", ".join(sorted(plan.native)) or "none"
        problems.append(f"the firmware lacks {NATIVE_MODULE} and no {NATIVE_MODULE}.mpy for "
                        f"{arch} is packaged (prebuilt: {have})")
    if int(info.get("mem_free", 0)) < model_size:
        problems.append(f"the model needs {model_size:,} bytes of heap, the board has "
                        f"{int(info.get('mem_free', 0)):,} free")
    return problems


def copy_files(link, files: List[PlannedFile], report: Callable[[str], None] = print,
               progress_factory=None) -> List:
    """put_file each planned file (skipped where the board already has the bytes)."""
    from .transfer import put_file
    results = []
    for f in files:
        progress = progress_factory(f) if progress_factory else None
        try:
            result = put_file(link, f.source.read_bytes(), f.dest, progress=progress)
        finally:
            if hasattr(progress, "close"):
                progress.close()
        if result.skipped:
            report(f"  {f.dest}: unchanged (SHA-256 matches)")
        else:
            report(f"  {f.dest}: {result.sent:,} B in {result.seconds:.2f} s "
                   f"({result.bytes_per_s / 1e3:,.0f} kB/s), SHA-256 verified")
        results.append(result)
    return results
