# Freeze the device package into firmware: include this file from the board's manifest,
#   include("/abs/path/to/device/manifest.py")
# (after the port's own include("$(PORT_DIR)/boards/manifest.py")), then build with
# FROZEN_MANIFEST=/abs/path/to/that/manifest.py.  classify.py stays a script: it is
# what `mpremote run` sends.
package("ftervit")
