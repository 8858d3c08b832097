# _ftervit as a user C module of a make-based port (e.g. unix):
#   make -C ports/unix USER_C_MODULES=/abs/path/native_module ...
# The binding is scanned for qstrs; the runtime core (native_module/*.c)
# includes no py/ header, so it is built as a plain library source.
FTERVIT_CORE_DIR := $(abspath $(USERMOD_DIR)/..)

SRC_USERMOD_C += $(USERMOD_DIR)/_ftervit.c
SRC_USERMOD_LIB_C += $(wildcard $(FTERVIT_CORE_DIR)/*.c)
CFLAGS_USERMOD += -I$(FTERVIT_CORE_DIR)
