/* Start code and exception vectors for bare-metal runs on
 * qemu-system-xtensa -M sim -cpu de233_fpu (an LX7 with the windowed
 * register option: 32 physical AR registers, zero-overhead loops, MAC16,
 * no MUL32_HIGH).  Assembled with llvm-mc-22 -mcpu=esp32.
 *
 * .vectors (placed at a 1 KB boundary, VECBASE points at it) holds the
 * window overflow / underflow handlers at their architectural offsets and
 * the exception vectors.  Each window handler is a separate symbol of a
 * fixed length (lx7_build.WINDOW_HANDLERS) so that the instruction profile
 * can count how many spills and refills ran.
 *
 * The user exception vector handles the alloca exception (MOVSP with the
 * caller's registers spilled; LLVM emits MOVSP around calls with stack
 * arguments) and emulates MULUH / MULSH (the ESP32-S3's LX7 has
 * them, this core does not, and llc -mcpu=esp32 emits them): it decodes
 * the faulting instruction, computes the high word of the product, writes
 * the destination register and resumes after the instruction.  Any other
 * exception prints its cause and exits with status 3.  The handler lies
 * between lx7_trap_start and lx7_trap_end, which the profile leaves out of
 * the counts: on the ESP32-S3 the instruction is one instruction, counted
 * once where it faulted. */

#define PS_WOE      0x40000
#define PS_UM       0x20
#define SYS_EXIT    1
#define SYS_WRITE   4
/* PROBE: a byte load from the faulting instruction's address (EPC1), with
 * a0 free (after the spill, before the refill).  The profile watches these
 * loads' addresses: QEMU counts an instruction that raises a window
 * exception and runs again after the handler twice, and the probe tells
 * the profile which code range to take the extra count from.  A label per
 * probe: lx7_build.py hands their addresses to the profile. */
    .macro PROBE name
    rsr     a0, epc1
    .global lx7_probe_\name
lx7_probe_\name:
    l8ui    a0, a0, 0
    .endm

/* SIMCALL (semihosting), which llvm-mc-22 does not know: ST0 format, r 5, s 1. */
#define SIMCALL     .byte 0x00, 0x51, 0x00

/* QEMU starts this core at its reset vector (the ROM's first byte,
 * 0xfe000000), not at the ELF entry: lx7_link places .reset there. */
    .section .reset, "ax"
    .global lx7_reset
lx7_reset:
    j       _start

    .section .vectors, "ax"
    .balign 1024
    .global lx7_vectors
lx7_vectors:

/* The window handlers: save or restore the four registers of one frame
 * quarter below the stack pointer of the frame above it (the Xtensa
 * windowed ABI's base save area), and the extra registers of call8 /
 * call12 frames below the caller's caller's stack pointer. */
    .org 0x00
    .global lx7_window_of4
lx7_window_of4:
    s32e    a0, a5, -16
    s32e    a1, a5, -12
    s32e    a2, a5, -8
    s32e    a3, a5, -4
    PROBE   of4
    rfwo

    .org 0x40
    .global lx7_window_uf4
lx7_window_uf4:
    PROBE   uf4
    l32e    a0, a5, -16
    l32e    a1, a5, -12
    l32e    a2, a5, -8
    l32e    a3, a5, -4
    rfwu

    .org 0x80
    .global lx7_window_of8
lx7_window_of8:
    s32e    a0, a9, -16
    l32e    a0, a1, -12
    s32e    a1, a9, -12
    s32e    a2, a9, -8
    s32e    a3, a9, -4
    s32e    a4, a0, -32
    s32e    a5, a0, -28
    s32e    a6, a0, -24
    s32e    a7, a0, -20
    PROBE   of8
    rfwo

    .org 0xc0
    .global lx7_window_uf8
lx7_window_uf8:
    PROBE   uf8
    l32e    a1, a9, -12
    l32e    a0, a9, -16
    l32e    a7, a1, -12
    l32e    a2, a9, -8
    l32e    a4, a7, -32
    l32e    a3, a9, -4
    l32e    a5, a7, -28
    l32e    a6, a7, -24
    l32e    a7, a7, -20
    rfwu

    .org 0x100
    .global lx7_window_of12
lx7_window_of12:
    s32e    a0, a13, -16
    l32e    a0, a1, -12
    s32e    a1, a13, -12
    s32e    a2, a13, -8
    s32e    a3, a13, -4
    s32e    a4, a0, -48
    s32e    a5, a0, -44
    s32e    a6, a0, -40
    s32e    a7, a0, -36
    s32e    a8, a0, -32
    s32e    a9, a0, -28
    s32e    a10, a0, -24
    s32e    a11, a0, -20
    PROBE   of12
    rfwo

    .org 0x140
    .global lx7_window_uf12
lx7_window_uf12:
    PROBE   uf12
    l32e    a1, a13, -12
    l32e    a0, a13, -16
    l32e    a11, a1, -12
    l32e    a2, a13, -8
    l32e    a4, a11, -48
    l32e    a8, a11, -32
    l32e    a3, a13, -4
    l32e    a5, a11, -44
    l32e    a6, a11, -40
    l32e    a7, a11, -36
    l32e    a9, a11, -28
    l32e    a10, a11, -24
    l32e    a11, a11, -20
    rfwu

/* The labels cut the vectors into the ranges the profile counts apart:
 * lx7_user_vector runs for every user exception (4 instructions),
 * lx7_user_other (2) for every one but an alloca exception. */
    .org 0x300          /* kernel exception vector (PS.UM = 0): not expected */
    .global lx7_kernel_vector
lx7_kernel_vector:
    j       lx7_trap
    .org 0x340          /* user exception vector */
    .global lx7_user_vector, lx7_user_other
lx7_user_vector:
    wsr     a0, excsave1
    rsr     a0, exccause
    addi    a0, a0, -5              /* 5: MOVSP with the caller's registers spilled */
    beqz    a0, lx7_alloca
lx7_user_other:
    rsr     a0, excsave1
    j       lx7_trap
    .org 0x3c0          /* double exception vector */
    .global lx7_double_vector
lx7_double_vector:
    j       lx7_double
    .org 0x400

/* MOVSP (the stack adjustment of a function with a variable-size frame)
 * raises an alloca exception when the caller's base save area is not in
 * the register file: the caller's four (or eight, twelve) registers have
 * been spilled.  The registers are reloaded by running the underflow
 * handler of the caller's call size on the caller's frame, whose RFWU then
 * returns to the MOVSP with the window as it was: PS.OWB is set to the
 * faulting WindowBase first.  a0 (saved in EXCSAVE1 by the vector) is the
 * faulting frame's return address; its top two bits give the call size. */
    .global lx7_alloca
lx7_alloca:
    rsr     a0, windowbase
    rotw    -1                      /* the faulting a0..a3 now a4..a7, WB in a4 */
    rsr     a2, ps
    extui   a3, a2, 8, 4            /* PS.OWB */
    xor     a3, a3, a4
    slli    a3, a3, 8
    xor     a2, a2, a3              /* PS.OWB := the faulting WindowBase */
    wsr     a2, ps
    rsr     a4, excsave1            /* the faulting a0, back in its register */
    rsync
    bbsi    a4, 31, 1f
    j       lx7_window_uf4          /* call4 (a0 top bits 01) */
1:  rotw    -1
    bbsi    a8, 30, 2f
    j       lx7_window_uf8          /* call8 (10) */
2:  rotw    -1
    j       lx7_window_uf12         /* call12 (11) */
    .global lx7_alloca_end
lx7_alloca_end:

/* ------------------------------------------------------------ start */

    .section .text.start, "ax"
    .literal_position
    .global _start
    .balign 4
_start:
    movi    a0, lx7_vectors
    wsr     a0, vecbase
    movi    a0, 0
    wsr     a0, windowbase
    movi    a0, 1
    wsr     a0, windowstart
    rsync
    movi    a1, __stack_top
    movi    a0, PS_WOE | PS_UM      /* windowed calls on, exceptions to the user vector */
    wsr     a0, ps
    rsync
    movi    a2, __bss_start
    movi    a3, __bss_end
    movi    a4, 0
1:  bgeu    a2, a3, 2f
    s32i    a4, a2, 0
    addi    a2, a2, 4
    j       1b
2:  movi    a0, 0
    call4   main
    mov     a3, a6                  /* main's return value: the exit status */
    movi    a2, SYS_EXIT
    SIMCALL
3:  j       3b

/* ------------------------------------------- MULUH / MULSH emulation */

    .section .text.lx7_trap, "ax"
    .literal_position
    .balign 4
    .global lx7_trap_start, lx7_trap_end
lx7_trap_start:
lx7_trap:
    wsr     a2, excsave1
    movi    a2, lx7_trap_regs
    s32i    a0, a2, 0
    s32i    a1, a2, 4
    rsr     a0, excsave1
    s32i    a0, a2, 8
    s32i    a3, a2, 12
    s32i    a4, a2, 16
    s32i    a5, a2, 20
    s32i    a6, a2, 24
    s32i    a7, a2, 28
    s32i    a8, a2, 32
    s32i    a9, a2, 36
    s32i    a10, a2, 40
    s32i    a11, a2, 44
    s32i    a12, a2, 48
    s32i    a13, a2, 52
    s32i    a14, a2, 56
    s32i    a15, a2, 60

    rsr     a3, exccause
    beqz    a3, 10f                 /* 0: illegal instruction */
    j       .Lfatal
10:
    rsr     a4, epc1
    l8ui    a5, a4, 0
    l8ui    a6, a4, 1
    l8ui    a7, a4, 2
    slli    a6, a6, 8
    or      a5, a5, a6
    slli    a7, a7, 16
    or      a5, a5, a7              /* a5: the 24-bit instruction word */
    movi    a6, 0xff000f            /* op2 | op1 | op0 */
    and     a6, a5, a6
    movi    a7, 0xa20000            /* MULUH: op2 10, op1 2, op0 0 */
    beq     a6, a7, 4f
    movi    a7, 0xb20000            /* MULSH: op2 11 */
    beq     a6, a7, 4f
    j       .Lfatal
4:  extui   a6, a5, 8, 4            /* s */
    addx4   a6, a6, a2
    l32i    a6, a6, 0               /* a6 = AR[s] */
    extui   a7, a5, 4, 4            /* t */
    addx4   a7, a7, a2
    l32i    a7, a7, 0               /* a7 = AR[t] */

    /* the destination must lie in the faulting frame's live window:
     * quarters WB+1 .. WB+r/4 must not start another frame (with
     * PS.EXCM set no overflow would spill it first) */
    extui   a8, a5, 14, 2           /* r / 4 */
    beqz    a8, 5f
    rsr     a9, windowstart
    slli    a10, a9, 8
    or      a9, a9, a10             /* WindowStart twice: rotations wrap */
    rsr     a10, windowbase
    addi    a10, a10, 1
    ssr     a10
    srl     a9, a9                  /* bit 0: quarter WB+1 */
    movi    a10, 1
    ssl     a8
    sll     a10, a10
    addi    a10, a10, -1            /* (1 << r/4) - 1 */
    and     a9, a9, a10
    beqz    a9, 5f
    j       .Lwindow
5:
    /* unsigned high word of a6 * a7 from 16-bit halves */
    extui   a8, a6, 0, 16           /* al */
    extui   a9, a6, 16, 16          /* ah */
    extui   a10, a7, 0, 16          /* bl */
    extui   a11, a7, 16, 16         /* bh */
    mul16u  a12, a8, a10            /* al*bl */
    mul16u  a13, a8, a11            /* al*bh */
    mul16u  a14, a9, a10            /* ah*bl */
    mul16u  a15, a9, a11            /* ah*bh */
    extui   a8, a12, 16, 16
    extui   a9, a13, 0, 16
    add     a8, a8, a9
    extui   a9, a14, 0, 16
    add     a8, a8, a9              /* middle column, < 2^18 */
    extui   a9, a13, 16, 16
    add     a15, a15, a9
    extui   a9, a14, 16, 16
    add     a15, a15, a9
    extui   a9, a8, 16, 2
    add     a15, a15, a9            /* a15: unsigned high word */
    bbci    a5, 20, 6f              /* op2 bit 0 clear: MULUH, done */
    bgez    a6, 7f                  /* MULSH: hi(a*b) = uhi - (a<0 ? b : 0) - (b<0 ? a : 0) */
    sub     a15, a15, a7
7:  bgez    a7, 6f
    sub     a15, a15, a6
6:  extui   a9, a5, 12, 4           /* r */
    addx4   a9, a9, a2
    s32i    a15, a9, 0
    addi    a4, a4, 3
    wsr     a4, epc1

    l32i    a0, a2, 0
    l32i    a1, a2, 4
    l32i    a3, a2, 12
    l32i    a4, a2, 16
    l32i    a5, a2, 20
    l32i    a6, a2, 24
    l32i    a7, a2, 28
    l32i    a8, a2, 32
    l32i    a9, a2, 36
    l32i    a10, a2, 40
    l32i    a11, a2, 44
    l32i    a12, a2, 48
    l32i    a13, a2, 52
    l32i    a14, a2, 56
    l32i    a15, a2, 60
    l32i    a2, a2, 8
    rsync
    rfe

.Lwindow:
    movi    a3, 64                  /* reported as cause 64: not an Xtensa cause */
.Lfatal:
    /* print "exception <cause> pc <epc1> vaddr <excvaddr>" and exit 3 */
    movi    a2, lx7_msg_exc
    movi    a8, 10
    call0   .Lputs
    mov     a9, a3
    call0   .Lputhex
    movi    a2, lx7_msg_pc
    movi    a8, 4
    call0   .Lputs
    rsr     a9, epc1
    call0   .Lputhex
    movi    a2, lx7_msg_vaddr
    movi    a8, 7
    call0   .Lputs
    rsr     a9, excvaddr
    call0   .Lputhex
    movi    a2, lx7_msg_nl
    movi    a8, 1
    call0   .Lputs
    movi    a2, SYS_EXIT
    movi    a3, 3
    SIMCALL
8:  j       8b

/* call0 helpers (a0 return): .Lputs writes a8 bytes at a2; .Lputhex
 * writes a9 as 8 hex digits. */
.balign 4
.Lputs:
    mov     a4, a2
    mov     a5, a8
    movi    a2, SYS_WRITE
    mov     a10, a3
    movi    a3, 1
    SIMCALL
    mov     a3, a10
    ret
.balign 4
.Lputhex:
    mov     a11, a0
    movi    a12, lx7_hexbuf
    movi    a13, 8
9:  extui   a14, a9, 28, 4
    movi    a15, lx7_hexdigits
    add     a15, a15, a14
    l8ui    a15, a15, 0
    s8i     a15, a12, 0
    addi    a12, a12, 1
    slli    a9, a9, 4
    addi    a13, a13, -1
    bnez    a13, 9b
    movi    a2, lx7_hexbuf
    movi    a8, 8
    call0   .Lputs
    mov     a0, a11
    ret

lx7_double:
    movi    a3, 65                  /* double exception */
    j       .Lfatal
lx7_trap_end:

    .section .rodata.lx7_trap, "a"
lx7_msg_exc:    .ascii "exception "
lx7_msg_pc:     .ascii " pc "
lx7_msg_vaddr:  .ascii " vaddr "
lx7_msg_nl:     .ascii "\n"
lx7_hexdigits:  .ascii "0123456789abcdef"

    .section .bss.lx7_trap, "aw", @nobits
    .balign 4
lx7_trap_regs:  .space 64
lx7_hexbuf:     .space 8
