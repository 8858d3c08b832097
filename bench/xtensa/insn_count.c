/* QEMU TCG plugin: exact count of guest instructions executed between a
 * call of the start marker and a call of the stop marker.
 *
 *   -plugin insn_count.so,start=0x<addr>,stop=0x<addr> -d plugin
 *
 * Every translated block adds its instruction count to one counter at
 * block entry (inline, no callback).  The first instruction of each marker
 * gets a callback that snapshots the counter; at each stop it prints
 * "insn_count <n>": the instructions from the start marker's block to the
 * stop marker's block, a constant overhead the caller can measure with an
 * empty region.  Straight-line code between the markers never faults, so
 * whole-block counting is exact.
 *
 * Debian ships no plugin header; these are the declarations of the QEMU
 * plugin API (version 1) this file uses. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb_t);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *,
                                              enum qemu_plugin_op, void *, uint64_t);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *, vcpu_udata_cb_t,
                                            enum qemu_plugin_cb_flags, void *);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
void qemu_plugin_outs(const char *);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t executed, started_at, start_addr, stop_addr;

static void on_start(unsigned int vcpu, void *u) { (void)vcpu; (void)u; started_at = executed; }

static void on_stop(unsigned int vcpu, void *u)
{
    char line[64];
    (void)vcpu; (void)u;
    snprintf(line, sizeof line, "insn_count %llu\n",
             (unsigned long long)(executed - started_at));
    qemu_plugin_outs(line);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed, n);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (pc == start_addr || pc == stop_addr)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, pc == start_addr ? on_start : on_stop,
                                                   QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "start=", 6) == 0)
            start_addr = strtoull(argv[i] + 6, NULL, 0);
        else if (strncmp(argv[i], "stop=", 5) == 0)
            stop_addr = strtoull(argv[i] + 5, NULL, 0);
    }
    if (!start_addr || !stop_addr) {
        qemu_plugin_outs("insn_count: need start=ADDR,stop=ADDR\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    return 0;
}
