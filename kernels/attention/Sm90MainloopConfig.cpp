// The sm_90a mainloop's configuration and shared-memory layout
// (Sm90MainloopConfig.h).
#include "kernels/attention/Sm90MainloopConfig.h"

namespace flexjit {

Sm90SharedLayout::Sm90SharedLayout(const Sm90MainloopConfig &c) {
  qBytes = c.blockM() * c.headDim * 2;
  kBytes = c.blockN * c.headDim * 2;
  vBytes = c.blockN * c.valueHeadDim * 2;
  kBase = qBytes;
  vBase = kBase + c.stages * kBytes;
  termsBase = vBase + c.stages * vBytes;
  termsBytes = c.kvTerms ? kTermRows * 128 : 0;
  barriers = termsBase + termsBytes;
  kRing = barriers + 8;             // after Q's mbarrier
  vRing = kRing + 16 * c.stages;    // a full and an empty mbarrier per slot
  tags = vRing + 16 * c.stages;
  end = tags + 4 * c.stages;
}

unsigned Sm90MainloopConfig::sharedBytes() const {
  return unsigned(Sm90SharedLayout(*this).end) + 1024;
}

std::string Sm90MainloopConfig::unsupported() const {
  auto dimOk = [](int d) { return d == 64 || d == 128 || d == 256; };
  if (dtype != DType::BF16 && dtype != DType::F16)
    return std::string("the sm_90a mainloop takes bf16 or f16, not ") + dtypeName(dtype);
  if (!dimOk(headDim) || !dimOk(valueHeadDim))
    return "the sm_90a mainloop takes head dims 64, 128 or 256, not D = " +
           std::to_string(headDim) + ", Dv = " + std::to_string(valueHeadDim);
  if (blockN < 16 || blockN > 256 || blockN % 16 != 0)
    return "the sm_90a mainloop's blockN must be a multiple of 16 in 16..256, not " +
           std::to_string(blockN);
  if (stages < 2 || stages > 4)
    return "the sm_90a mainloop takes 2 to 4 stages, not " + std::to_string(stages);
  if (kvTerms && (!warpSpecialized || dtype != DType::BF16 || blockN > Sm90SharedLayout::kTermRows ||
                  blockM() > Sm90SharedLayout::kTermRows || stages > 3))
    return "the sm_90a mainloop's kv terms need warp specialization, bf16, at most 128 rows a "
           "tile and at most 3 stages";
  if (consumers < 1 || consumers > 3)
    return "the sm_90a mainloop takes 1 to 3 consumer warpgroups, not " + std::to_string(consumers);
  if (pingPong && consumers != 2)
    return "ping-pong needs exactly 2 consumer warpgroups";
  if (warpSpecialized &&
      (producerRegisters < 24 || consumerRegisters > 256 || producerRegisters % 8 != 0 ||
       consumerRegisters % 8 != 0 ||
       128 * (producerRegisters + consumers * consumerRegisters) > 65536))
    return "registers " + std::to_string(producerRegisters) + " + " + std::to_string(consumers) +
           " x " + std::to_string(consumerRegisters) +
           " per thread do not fit the register file (multiples of 8, 24..256)";
  return "";
}

} // namespace flexjit
