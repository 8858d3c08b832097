/* Start code: the sim machine starts executing at 0x50000000, the first
 * byte of .text.start.  Stack, zeroed .bss, main(), then semihosting
 * exit(main()). */
    .section .text.start, "ax"
    .global _start
    .align 4
_start:
    j       .Lreset
    .literal_position
    .align 4
.Lreset:
    movi    a1, __stack_top
    movi    a2, __bss_start
    movi    a3, __bss_end
    movi    a4, 0
1:  bgeu    a2, a3, 2f
    s32i    a4, a2, 0
    addi    a2, a2, 4
    j       1b
2:  call0   main
    mov     a3, a2          /* exit status */
    movi    a2, 1           /* SYS_exit */
    simcall
3:  j       3b
