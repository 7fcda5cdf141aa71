/* An AVX2-only view of an AVX-512 x86 CPU, at native speed, for one process tree.
 *
 * LD_PRELOAD'ed into a program, this turns on the kernel's CPUID faulting for the process
 * (arch_prctl(ARCH_SET_CPUID, 0); needs the CPU's and kernel's "cpuid_fault" flag), so every CPUID
 * instruction traps with SIGSEGV. The handler runs the real CPUID and clears the AVX-512 and VNNI
 * feature bits of leaf 7 (sub-leaves 0 and 1) before returning the result, so libraries that pick
 * their kernels by CPUID (onnxruntime's MLAS, XNNPACK via cpuinfo, oneDNN, numpy) take their AVX2
 * kernels, which then run natively. qemu's TCG (scripts/test-isa.sh) gives the same view exactly but
 * ~10x slower; this one is for timing what an AVX2-only host runs. It is not an AVX2 host: caches,
 * clocks and the AVX2 instructions' throughput are this CPU's.
 *
 * Limits: the setting is per thread, inherited by threads and fork()s, and reset by execve() (this
 * library's constructor sets it again in a child that loads it through LD_PRELOAD). CPUID executed
 * before the constructor runs (the dynamic loader, glibc's string-function selection) sees the real
 * CPU. A program that installs its own SIGSEGV handler after start-up (Python's faulthandler) takes
 * the trap from this one: run without it. On a CPU or kernel without CPUID faulting the constructor
 * says so on stderr and exits with status 3, so no measurement runs on the wrong view.
 *
 * Build: gcc -O2 -shared -fPIC -o cpuid-mask.so cpuid-mask.c   (scripts/testbed/cpuid-mask.sh does it)
 */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef ARCH_SET_CPUID
#define ARCH_SET_CPUID 0x1012
#endif

/* leaf 7 sub-leaf 0, EBX: AVX512F 16, DQ 17, IFMA 21, PF 26, ER 27, CD 28, BW 30, VL 31 */
#define L7_EBX_AVX512 ((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31))
/* ECX: VBMI 1, VBMI2 6, VNNI 11, BITALG 12, VPOPCNTDQ 14 */
#define L7_ECX_AVX512 ((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14))
/* EDX: 4VNNIW 2, 4FMAPS 3, VP2INTERSECT 8, FP16 23 */
#define L7_EDX_AVX512 ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 23))
/* leaf 7 sub-leaf 1, EAX: AVX-VNNI 4, AVX512_BF16 5 */
#define L7S1_EAX_VNNI ((1u << 4) | (1u << 5))

static long set_cpuid(int enabled) { return syscall(SYS_arch_prctl, ARCH_SET_CPUID, enabled); }

static void say(const char *msg) {
    ssize_t ignored = write(2, msg, strlen(msg));
    (void)ignored;
}

static void on_segv(int sig, siginfo_t *info, void *raw) {
    ucontext_t *ctx = (ucontext_t *)raw;
    greg_t *r = ctx->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)r[REG_RIP];
    (void)info;
    if (ip[0] != 0x0f || ip[1] != 0xa2) { /* a real fault: let it kill the process as it would have */
        signal(sig, SIG_DFL);
        return;
    }
    uint32_t leaf = (uint32_t)r[REG_RAX], sub = (uint32_t)r[REG_RCX], a, b, c, d;
    set_cpuid(1);
    __cpuid_count(leaf, sub, a, b, c, d);
    set_cpuid(0);
    if (leaf == 7 && sub == 0) {
        b &= ~L7_EBX_AVX512;
        c &= ~L7_ECX_AVX512;
        d &= ~L7_EDX_AVX512;
    } else if (leaf == 7 && sub == 1) {
        a &= ~L7S1_EAX_VNNI;
    }
    r[REG_RAX] = a;
    r[REG_RBX] = b;
    r[REG_RCX] = c;
    r[REG_RDX] = d;
    r[REG_RIP] += 2;
}

__attribute__((constructor)) static void cpuid_mask_init(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0 || set_cpuid(0) != 0) {
        say("cpuid-mask: this CPU or kernel has no CPUID faulting (arch_prctl ARCH_SET_CPUID failed); "
            "no AVX2-only view is possible here\n");
        _exit(3);
    }
}
