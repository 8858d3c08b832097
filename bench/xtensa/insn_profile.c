/* QEMU TCG plugin: exact executed-instruction profile of a bare-metal run,
 * by code range and by phase, and (optionally) the bytes loaded and stored
 * per memory region and phase.
 *
 *   -plugin insn_profile.so,funcs=FILE,phases=FILE,dump=0xADDR[,regions=FILE]
 *           [,per_insn=1[,probes=FILE]]
 *           -d plugin -D LOG
 *
 * funcs:   code ranges, one a line, "0xSTART 0xEND" (END exclusive), sorted
 *          and disjoint: functions, or finer pieces of them; code outside
 *          every range counts as range number <count of lines> ("other").
 * phases:  one marker address a line; line i is phase i.  Executing the
 *          first instruction of marker i makes phase i the current phase.
 *          The run starts in phase 0.
 * dump:    executing this address prints the profile to the log:
 *            "fn <phase> <range> <instructions>"   (non-zero entries)
 *            "mem <phase> <region> <load bytes> <store bytes>"
 *            "split_blocks <n>"  translated blocks that span two ranges
 *            "probes <n> <hits>" probe addresses, probe loads executed
 * regions: one memory range a line, "0xLO 0xHI"; accesses outside all of
 *          them count as region <count of lines>.  Without it no memory
 *          callbacks are installed (much faster).
 *
 * Each translated block is cut into runs of consecutive instructions in one
 * range; the first instruction of a run adds the run's length to that
 * range's counter (inline, no callback).  A block runs to its end once
 * entered (it ends at every jump, branch and call, and straight-line code
 * never faults on lx106), so the counts are exact.
 *
 * per_insn=1: every instruction adds 1 before it executes (slower), for
 * cores whose straight-line code faults (the windowed ABI's overflow
 * exceptions, emulated instructions): the instructions after a faulting one
 * in its block are not counted, and an instruction that faults and is
 * executed again after the handler is counted twice.
 * probes=FILE: addresses (one a line) of load instructions in the window
 * exception handlers that read the faulting instruction's address (EPC1):
 * each load takes one count from the code range of the address it reads,
 * so that the re-executed instruction is counted once.  On a phase change the
 * plugin moves each range's count since the last change into the old
 * phase's row.
 *
 * Debian ships no plugin header: these are the declarations of the QEMU
 * plugin API (version 1) this file uses. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
typedef uint32_t qemu_plugin_meminfo_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info,
                              uint64_t vaddr, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb_t);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *,
                                                enum qemu_plugin_op, void *, uint64_t);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *, vcpu_udata_cb_t,
                                            enum qemu_plugin_cb_flags, void *);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *, vcpu_mem_cb_t,
                                      enum qemu_plugin_cb_flags, enum qemu_plugin_mem_rw,
                                      void *);
unsigned int qemu_plugin_mem_size_shift(qemu_plugin_meminfo_t);
int qemu_plugin_mem_is_store(qemu_plugin_meminfo_t);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
void qemu_plugin_outs(const char *);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define MAX_FUNCS   16384
#define MAX_PHASES  64
#define MAX_REGIONS 16

static uint64_t fn_lo[MAX_FUNCS], fn_hi[MAX_FUNCS];
static int n_funcs;                            /* ranges; index n_funcs: "other" */
static uint64_t fn_count[MAX_FUNCS + 1], fn_last[MAX_FUNCS + 1];
static uint64_t phase_fn[MAX_PHASES][MAX_FUNCS + 1];
static uint64_t phase_addr[MAX_PHASES];
static int n_phases, cur_phase;
static uint64_t dump_addr;
static uint64_t reg_lo[MAX_REGIONS], reg_hi[MAX_REGIONS];
static int n_regions = -1;                     /* -1: no memory counting */
static uint64_t mem_bytes[MAX_PHASES][MAX_REGIONS + 1][2];
static uint64_t split_blocks;                  /* blocks spanning two ranges */
static int per_insn;                           /* count each instruction apart */
#define MAX_PROBES  16
static uint64_t probe_addr[MAX_PROBES];
static int n_probes;
static uint64_t probe_hits;

static int func_of(uint64_t pc)
{
    int lo = 0, hi = n_funcs - 1;              /* ranges sorted by start */
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (pc < fn_lo[mid])
            hi = mid - 1;
        else if (pc >= fn_hi[mid])
            lo = mid + 1;
        else
            return mid;
    }
    return n_funcs;
}

static void settle(void)
{
    for (int f = 0; f <= n_funcs; f++) {
        phase_fn[cur_phase][f] += fn_count[f] - fn_last[f];
        fn_last[f] = fn_count[f];
    }
}

static void on_phase(unsigned int vcpu, void *u)
{
    (void)vcpu;
    settle();
    cur_phase = (int)(uintptr_t)u;
}

static void on_dump(unsigned int vcpu, void *u)
{
    char line[128];
    (void)vcpu; (void)u;
    settle();
    for (int p = 0; p < n_phases; p++) {
        for (int f = 0; f <= n_funcs; f++) {
            if (phase_fn[p][f]) {
                snprintf(line, sizeof line, "fn %d %d %llu\n", p, f,
                         (unsigned long long)phase_fn[p][f]);
                qemu_plugin_outs(line);
            }
        }
        for (int r = 0; r <= n_regions; r++) {
            if (mem_bytes[p][r][0] || mem_bytes[p][r][1]) {
                snprintf(line, sizeof line, "mem %d %d %llu %llu\n", p, r,
                         (unsigned long long)mem_bytes[p][r][0],
                         (unsigned long long)mem_bytes[p][r][1]);
                qemu_plugin_outs(line);
            }
        }
    }
    snprintf(line, sizeof line, "split_blocks %llu\n", (unsigned long long)split_blocks);
    qemu_plugin_outs(line);
    snprintf(line, sizeof line, "probes %d %llu\n", n_probes, (unsigned long long)probe_hits);
    qemu_plugin_outs(line);
    qemu_plugin_outs("dump end\n");
}

static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *u)
{
    int r = 0;
    (void)vcpu; (void)u;
    while (r < n_regions && (vaddr < reg_lo[r] || vaddr >= reg_hi[r]))
        r++;
    mem_bytes[cur_phase][r][qemu_plugin_mem_is_store(info) ? 1 : 0] +=
        1u << qemu_plugin_mem_size_shift(info);
}

/* A probe load read the address of an instruction that will run again. */
static void on_probe(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *u)
{
    (void)vcpu; (void)info; (void)u;
    fn_count[func_of(vaddr)]--;
    probe_hits++;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    int run_fn = -1;
    size_t run_start = 0;
    (void)id;
    for (size_t i = 0; i <= n; i++) {
        struct qemu_plugin_insn *insn = i < n ? qemu_plugin_tb_get_insn(tb, i) : NULL;
        uint64_t pc = insn ? qemu_plugin_insn_vaddr(insn) : 0;
        int fn = insn ? func_of(pc) : -1;
        if (per_insn && insn)
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                       &fn_count[fn], 1);
        if (fn != run_fn) {     /* close the run of instructions in one range */
            if (run_fn >= 0 && !per_insn)
                qemu_plugin_register_vcpu_insn_exec_inline(
                    qemu_plugin_tb_get_insn(tb, run_start), QEMU_PLUGIN_INLINE_ADD_U64,
                    &fn_count[run_fn], i - run_start);
            if (run_fn >= 0 && run_start > 0)
                split_blocks++;
            run_fn = fn;
            run_start = i;
        }
        if (!insn)
            break;
        for (int p = 0; p < n_phases; p++)
            if (pc == phase_addr[p])
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_phase, QEMU_PLUGIN_CB_NO_REGS,
                                                       (void *)(uintptr_t)p);
        for (int k = 0; k < n_probes; k++)
            if (pc == probe_addr[k])
                qemu_plugin_register_vcpu_mem_cb(insn, on_probe, QEMU_PLUGIN_CB_NO_REGS,
                                                 QEMU_PLUGIN_MEM_RW, NULL);
        if (pc == dump_addr)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_dump, QEMU_PLUGIN_CB_NO_REGS, NULL);
        if (n_regions >= 0)
            qemu_plugin_register_vcpu_mem_cb(insn, on_mem, QEMU_PLUGIN_CB_NO_REGS,
                                             QEMU_PLUGIN_MEM_RW, NULL);
    }
}

/* Reads up to `max` lines of one or two hex numbers; returns the count or -1. */
static int read_pairs(const char *path, uint64_t *a, uint64_t *b, int max)
{
    char line[256];
    int n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long long x, y = 0;
        int got = sscanf(line, "%llx %llx", &x, &y);
        if (got < 1)
            continue;
        if (n == max || (b && got < 2)) {
            fclose(f);
            return -1;
        }
        a[n] = x;
        if (b)
            b[n] = y;
        n++;
    }
    fclose(f);
    return n;
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    int bad_regions = 0;
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "funcs=", 6) == 0)
            n_funcs = read_pairs(argv[i] + 6, fn_lo, fn_hi, MAX_FUNCS);
        else if (strncmp(argv[i], "phases=", 7) == 0)
            n_phases = read_pairs(argv[i] + 7, phase_addr, NULL, MAX_PHASES);
        else if (strncmp(argv[i], "regions=", 8) == 0) {
            n_regions = read_pairs(argv[i] + 8, reg_lo, reg_hi, MAX_REGIONS);
            bad_regions = n_regions < 0;
        }
        else if (strncmp(argv[i], "probes=", 7) == 0) {
            n_probes = read_pairs(argv[i] + 7, probe_addr, NULL, MAX_PROBES);
            bad_regions |= n_probes < 0;
        }
        else if (strcmp(argv[i], "per_insn=1") == 0)
            per_insn = 1;
        else if (strncmp(argv[i], "dump=", 5) == 0)
            dump_addr = strtoull(argv[i] + 5, NULL, 0);
    }
    if (n_funcs < 0 || n_phases < 1 || !dump_addr || bad_regions) {
        qemu_plugin_outs("insn_profile: need funcs=FILE,phases=FILE,dump=ADDR"
                         "[,regions=FILE][,per_insn=1][,probes=FILE] (readable files of hex "
                         "addresses)\n");
        return -1;
    }
    for (int f = 1; f < n_funcs; f++) {
        if (fn_lo[f] < fn_hi[f - 1] || fn_hi[f] < fn_lo[f]) {
            qemu_plugin_outs("insn_profile: funcs must be sorted, disjoint ranges\n");
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    return 0;
}
