/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_SRC_CMD_NFT_H
#define FERRY_SRC_CMD_NFT_H

/* Sub-commands of the nft/ data plane (src/cmd_nft.c). */
int cmd_cleanup(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_apply_state(int argc, char **argv);

#endif
