/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * txqlab's user-space stand-in for the kernel headers that the ENA driver's ena_com.h includes
 * (<linux/compiler.h>, <linux/io.h>, <linux/netdevice.h>, ...). Every <linux/...> header in this directory
 * includes this file and nothing else, so drivers/net/ethernet/amazon/ena/ena_eth_com.c from the kernel
 * source compiles as ordinary C. Written for txqlab; no kernel code is copied here.
 *
 * MMIO is ordinary memory: writel() stores the value through the pointer (the doorbell and unmask
 * "registers" are fields of the test's queue), __iowrite64_copy() copies into the test's "device memory".
 */
#ifndef TXQLAB_ENA_SHIM_H
#define TXQLAB_ENA_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef u64 dma_addr_t;
typedef struct { int locked; } spinlock_t;
typedef struct { int counter; } atomic_t;

#define __iomem
#define ____cacheline_aligned __attribute__((aligned(64)))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Single-threaded tests: a volatile access is all READ_ONCE/WRITE_ONCE must give, and a compiler barrier is
 * all a DMA/MMIO barrier must give. */
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#define barrier() __asm__ __volatile__("" ::: "memory")
#define wmb() barrier()
#define rmb() barrier()
#define mb() barrier()
#define dma_rmb() barrier()
#define dma_wmb() barrier()
#define smp_mb() barrier()
#define prefetch(x) __builtin_prefetch(x)
#define prefetchw(x) __builtin_prefetch(x, 1)

#define BIT(n) (1UL << (n))
#define BIT_ULL(n) (1ULL << (n))
#define GENMASK(h, l) (((~0UL) << (l)) & (~0UL >> (8 * sizeof(unsigned long) - 1 - (h))))
#define GENMASK_ULL(h, l) (((~0ULL) << (l)) & (~0ULL >> (63 - (h))))
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define min_t(type, a, b) ((type)(a) < (type)(b) ? (type)(a) : (type)(b))
#define max_t(type, a, b) ((type)(a) > (type)(b) ? (type)(a) : (type)(b))
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define SZ_256 0x100

#define ENOMEM 12
#define EFAULT 14
#define EINVAL 22
#define ENOSPC 28
#define EIO 5
#define EAGAIN 11

#define KBUILD_MODNAME "ena"
#define netdev_err(dev, fmt, ...) ((void)(dev), fprintf(stderr, "ena_com (oracle): " fmt, ##__VA_ARGS__))
#define netdev_warn(dev, fmt, ...) ((void)(dev), fprintf(stderr, "ena_com (oracle): " fmt, ##__VA_ARGS__))
#define netdev_dbg(dev, fmt, ...) do { } while (0)
#define WARN(cond, fmt, ...) ({ int __w = !!(cond); if (__w) fprintf(stderr, "WARN: " fmt "\n", ##__VA_ARGS__); __w; })

static inline void writel(u32 value, volatile void *addr) { *(volatile u32 *)addr = value; }
static inline u32 readl(const volatile void *addr) { return *(const volatile u32 *)addr; }
static inline void memcpy_toio(volatile void *dst, const void *src, size_t n) { memcpy((void *)dst, src, n); }
static inline void __iowrite64_copy(void *dst, const void *src, size_t count)
{
	memcpy(dst, src, count * 8);
}

struct net_device;

#endif
