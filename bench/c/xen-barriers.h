/* ring.h maps xen_mb/xen_rmb/xen_wmb to mb/rmb/wmb, which the includer must define. x86-64 is
 * TSO: loads are not reordered with loads nor stores with stores, so rmb/wmb need only stop
 * the compiler (acquire/release fences); mb must also order a store before a later load (the
 * event-index check after publishing an index), which needs a full fence (mfence). */
#ifndef SPLITBLK_XEN_BARRIERS_H
#define SPLITBLK_XEN_BARRIERS_H
#include <stdint.h>
#define mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif
