/* SPDX-License-Identifier: MIT */
/*
 * kernels_device.h: `owbench kernels --device DEV` for a device backend (cuda): checks the device,
 * runs the device sweep (bench/suites/kernels_gpu.h), prints its table and writes
 * DIR/kernels.json. Exit 77 naming the reason when the backend cannot run here (a build without
 * CUDA, no driver, no GPU), 2 for an unknown device name.
 */
#ifndef OWB_TOOLS_KERNELS_DEVICE_H
#define OWB_TOOLS_KERNELS_DEVICE_H

#include "bench/suites/kernels_suite.h"

int owb_cli_kernels_device(const char *device, const struct owb_kernels_cfg *cfg, int quick,
                           const char *outarg);

#endif
