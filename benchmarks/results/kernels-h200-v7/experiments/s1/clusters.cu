// How many clusters of N blocks (160 threads, ~205 KiB of shared memory each: one per SM, as
// the persistent attention kernel) fit this GPU at once, and which SMs a full launch lands on.
#include <cstdio>
#include <cuda_runtime.h>
__global__ void where(int* sm_of_block) {
  if (threadIdx.x == 0) {
    int sm;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
    sm_of_block[blockIdx.x] = sm;
  }
}
int main() {
  const int smem = 205 * 1024;
  cudaFuncSetAttribute(where, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  cudaFuncSetAttribute(where, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
  for (int n = 1; n <= 16; ++n) {
    cudaLaunchAttribute attribute{};
    attribute.id = cudaLaunchAttributeClusterDimension;
    attribute.val.clusterDim.x = n;
    attribute.val.clusterDim.y = attribute.val.clusterDim.z = 1;
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(n);
    config.blockDim = dim3(160);
    config.dynamicSmemBytes = smem;
    config.attrs = &attribute;
    config.numAttrs = 1;
    int clusters = -1;
    cudaError_t e = cudaOccupancyMaxActiveClusters(&clusters, where, &config);
    std::printf("cluster %2d: %3d clusters at once = %3d blocks (%s)\n", n, clusters, clusters * n, cudaGetErrorString(e));
    cudaGetLastError();
  }
  return 0;
}
