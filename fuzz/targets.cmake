# One ferry_fuzz_target(name SOURCES ... LIBS ...) per parser of outside input.
ferry_fuzz_target(kube_watch SOURCES ${CMAKE_SOURCE_DIR}/fuzz/kube_watch.c LIBS ferry_kube)
ferry_fuzz_target(kube_config SOURCES ${CMAKE_SOURCE_DIR}/fuzz/kube_config.c LIBS ferry_kube)
ferry_fuzz_target(nft_state SOURCES ${CMAKE_SOURCE_DIR}/fuzz/nft_state.c LIBS ferry_nft)
ferry_fuzz_target(kpconfig SOURCES ${CMAKE_SOURCE_DIR}/fuzz/kpconfig.c LIBS ferry_proxy_ops)
ferry_fuzz_target(lbip_configmap SOURCES ${CMAKE_SOURCE_DIR}/fuzz/lbip_configmap.c LIBS ferry_lbip)
ferry_fuzz_target(lbip_crd SOURCES ${CMAKE_SOURCE_DIR}/fuzz/lbip_crd.c LIBS ferry_lbip)
ferry_fuzz_target(lbip_range SOURCES ${CMAKE_SOURCE_DIR}/fuzz/lbip_range.c LIBS ferry_lbip)
ferry_fuzz_target(lbip_request SOURCES ${CMAKE_SOURCE_DIR}/fuzz/lbip_request.c LIBS ferry_lbip)
