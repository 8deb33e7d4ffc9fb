// Hand-written PTX for the CUDA runtime tests (checked with ptxas where the
// toolkit is installed, run where a GPU is).
#pragma once

namespace flexjit::test_kernels {

/// fill_i32(out, base, n): out[i] = base + i for i < n.
/// smem_roundtrip(out, bytes): one thread stores 0x1234 into the last word
/// of `bytes` of dynamic shared memory, reads it back and writes out[0].
/// spin(out, ns): busy-waits `ns` nanoseconds (%globaltimer), then writes
/// out[0] = 1.
inline const char *kTestPtx = R"PTX(
.version 7.0
.target sm_80
.address_size 64

.extern .shared .align 16 .b8 dsmem[];

.visible .entry fill_i32(
    .param .u64 out,
    .param .u32 base,
    .param .u32 n)
{
    .reg .pred %p;
    .reg .b32 %r<7>;
    .reg .b64 %rd<4>;
    ld.param.u64 %rd1, [out];
    ld.param.u32 %r1, [base];
    ld.param.u32 %r2, [n];
    mov.u32 %r3, %ctaid.x;
    mov.u32 %r4, %ntid.x;
    mov.u32 %r5, %tid.x;
    mad.lo.u32 %r6, %r3, %r4, %r5;
    setp.ge.u32 %p, %r6, %r2;
    @%p bra DONE;
    cvta.to.global.u64 %rd1, %rd1;
    mul.wide.u32 %rd2, %r6, 4;
    add.u64 %rd3, %rd1, %rd2;
    add.u32 %r4, %r1, %r6;
    st.global.u32 [%rd3], %r4;
DONE:
    ret;
}

.visible .entry smem_roundtrip(
    .param .u64 out,
    .param .u32 bytes)
{
    .reg .b32 %r<5>;
    .reg .b64 %rd<2>;
    ld.param.u64 %rd1, [out];
    ld.param.u32 %r1, [bytes];
    sub.u32 %r1, %r1, 4;
    mov.u32 %r2, dsmem;
    add.u32 %r2, %r2, %r1;
    mov.u32 %r3, 4660;
    st.shared.u32 [%r2], %r3;
    bar.sync 0;
    ld.shared.u32 %r4, [%r2];
    cvta.to.global.u64 %rd1, %rd1;
    st.global.u32 [%rd1], %r4;
    ret;
}

.visible .entry spin(
    .param .u64 out,
    .param .u64 ns)
{
    .reg .pred %p;
    .reg .b32 %r1;
    .reg .b64 %rd<6>;
    ld.param.u64 %rd1, [out];
    ld.param.u64 %rd2, [ns];
    mov.u64 %rd3, %globaltimer;
WAIT:
    mov.u64 %rd4, %globaltimer;
    sub.u64 %rd5, %rd4, %rd3;
    setp.lt.u64 %p, %rd5, %rd2;
    @%p bra WAIT;
    cvta.to.global.u64 %rd1, %rd1;
    mov.u32 %r1, 1;
    st.global.u32 [%rd1], %r1;
    ret;
}
)PTX";

} // namespace flexjit::test_kernels
