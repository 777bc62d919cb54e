/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * txqlab's ENA oracle: the netdev side of the TX path (what ena_start_xmit, ena_xmit_common,
 * ena_check_and_linearize_skb, ena_tx_map_skb, ena_tx_csum and ena_clean_tx_irq in
 * drivers/net/ethernet/amazon/ena/ena_netdev.c do), written for txqlab around the driver's own ena_com code:
 * ena_com_prepare_tx, ena_com_rx_pkt (compiled from the kernel's ena_eth_com.c) and the static inlines of
 * ena_eth_com.h (ena_com_is_doorbell_needed, ena_com_write_sq_doorbell, ena_com_sq_have_enough_space,
 * ena_com_tx_comp_req_id_get, ena_com_comp_ack). ena_netdev.c itself needs the whole kernel and is not compiled:
 * this file follows it statement by statement instead; every function names the one it mirrors.
 *
 * Queue setup follows ena_com_create_io_queue / ena_com_init_io_sq / ena_com_init_io_cq and
 * ena_setup_tx_resources. The byte queue limit has a fixed limit (netdev_tx_sent_queue /
 * netdev_tx_completed_queue with dql.limit held constant), as in nic-model.
 */
#include <stdlib.h>

#include "ena_eth_com.h"

#define ORACLE_BOUNCE_BUFFERS 4 /* ENA_COM_BOUNCE_BUFFER_CNTRL_CNT, ena_com.c */
#define ORACLE_MAX_SKB_FRAGS 17 /* MAX_SKB_FRAGS */
#define ORACLE_TX_WAKEUP_THRESH (ORACLE_MAX_SKB_FRAGS + 2) /* ENA_TX_WAKEUP_THRESH, ena_netdev.h */
#define ORACLE_PKT_MAX_BUFS 19 /* ENA_PKT_MAX_BUFS, ena_netdev.h */
#define ORACLE_DMA_ADDR_BITS 48
#define ORACLE_RING_IDX_NEXT(idx, size) (((idx) + 1) & ((size) - 1)) /* ENA_TX_RING_IDX_NEXT */

/* Return codes of oracle_start_xmit besides 0 and the -errno of ena_com_prepare_tx. */
#define ORACLE_XMIT_STOPPED 1000 /* netif_xmit_frozen_or_stopped: the stack would not call the driver */
#define ORACLE_XMIT_RESET 1001   /* a reset is pending: the device is going down */

struct oracle_cfg {
	u32 bql_limit;
	u16 depth;
	u16 entry_size; /* LLQ entry bytes; 0: host placement */
	u16 max_entries_in_tx_burst;
	u16 sgl_size;
	u8 descs_before_header;
	u8 disable_meta_caching;
	u8 max_header_size; /* host placement: the device's max_tx_header_size */
	u8 pad;
};

struct oracle_pkt {
	u32 len;
	u32 head_len;
	u32 frags[ORACLE_MAX_SKB_FRAGS];
	u32 offload_flags; /* ENA_ETH_IO_TX_DESC_*_MASK bits */
	u16 nr_frags;
	u16 mss;
	u8 l3_proto;
	u8 l4_proto;
	u8 l3_hdr_len;
	u8 l3_hdr_off;
	u8 l4_hdr_len;
	u8 xmit_more;
	u8 pad[2];
};

struct oracle_state {
	u64 cnt, bytes, queue_stop, queue_wakeup, linearize, doorbells, prepare_ctx_err, bad_req_id,
		llq_buffer_copy, resets;
	u64 tail, next_to_comp, sq_phase, db_reg, cq_head, cq_phase, next_to_use, next_to_clean;
	u64 drv_xoff, stack_xoff, reset_pending, entries_in_tx_burst_left;
};

struct oracle_tx_info {
	/* ENA_PKT_MAX_BUFS in the driver; one more here so that sgl_size fragments plus the linear part (host
	 * placement) never write past it. */
	struct ena_com_buf bufs[ORACLE_PKT_MAX_BUFS + 1];
	u32 len;
	u16 num_of_bufs;
	u16 tx_descs;
	u8 skb;
};

struct oracle_txq {
	struct ena_com_dev *dev;
	struct ena_com_io_sq *io_sq;
	struct ena_com_io_cq *io_cq;
	u8 *sq_mem;
	size_t sq_len;
	u8 *cq_mem;
	u8 *bounce;
	u16 *free_ids;
	struct oracle_tx_info *tx_info;
	u64 bql_in_flight;
	u32 bql_limit;
	u32 db_reg; /* the SQ doorbell register */
	u16 ring_size, next_to_use, next_to_clean, sgl_size;
	u8 tx_max_header_size; /* ena_ring.tx_max_header_size is a u8 */
	u8 llq, disable_meta_caching, drv_xoff, stack_xoff, reset_pending;
	struct oracle_state stats;
	u8 push_buf[256];
};

static u64 oracle_dma_addr(u16 req_id, u16 buf)
{
	return 0x10000000ULL + ((u64)req_id << 16) + ((u64)buf << 32);
}

void oracle_txq_free(struct oracle_txq *q)
{
	if (!q)
		return;
	free(q->dev);
	free(q->sq_mem);
	free(q->cq_mem);
	free(q->bounce);
	free(q->free_ids);
	free(q->tx_info);
	free(q);
}

struct oracle_txq *oracle_txq_new(const struct oracle_cfg *cfg)
{
	struct oracle_txq *q;
	struct ena_com_io_sq *io_sq;
	struct ena_com_io_cq *io_cq;
	u16 i;

	if (cfg->depth < 2 || (cfg->depth & (cfg->depth - 1)) || cfg->sgl_size == 0 ||
	    cfg->sgl_size > ORACLE_PKT_MAX_BUFS)
		return NULL;
	if (cfg->entry_size && ((cfg->entry_size & 7) || cfg->entry_size > 256 ||
				cfg->descs_before_header * 16 >= cfg->entry_size))
		return NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->dev = calloc(1, sizeof(*q->dev));
	q->cq_mem = calloc(cfg->depth, sizeof(struct ena_eth_io_tx_cdesc));
	q->free_ids = calloc(cfg->depth, sizeof(u16));
	q->tx_info = calloc(cfg->depth, sizeof(struct oracle_tx_info));
	q->llq = cfg->entry_size != 0;
	q->sq_len = (size_t)cfg->depth * (q->llq ? cfg->entry_size : sizeof(struct ena_eth_io_tx_desc));
	q->sq_mem = calloc(1, q->sq_len);
	if (q->llq)
		q->bounce = calloc(ORACLE_BOUNCE_BUFFERS, cfg->entry_size);
	if (!q->dev || !q->cq_mem || !q->free_ids || !q->tx_info || !q->sq_mem || (q->llq && !q->bounce)) {
		oracle_txq_free(q);
		return NULL;
	}

	/* ena_com_config_dev_mode / ena_com_get_dev_attr_feat */
	q->dev->dma_addr_bits = ORACLE_DMA_ADDR_BITS;
	q->dev->tx_max_header_size =
		q->llq ? cfg->entry_size - cfg->descs_before_header * sizeof(struct ena_eth_io_tx_desc)
		       : cfg->max_header_size;

	/* ena_com_create_io_queue */
	io_sq = &q->dev->io_sq_queues[0];
	io_cq = &q->dev->io_cq_queues[0];
	io_cq->q_depth = cfg->depth;
	io_cq->direction = ENA_COM_IO_QUEUE_DIRECTION_TX;
	io_cq->qid = 0;
	io_sq->q_depth = cfg->depth;
	io_sq->direction = ENA_COM_IO_QUEUE_DIRECTION_TX;
	io_sq->qid = 0;
	io_sq->mem_queue_type = q->llq ? ENA_ADMIN_PLACEMENT_POLICY_DEV : ENA_ADMIN_PLACEMENT_POLICY_HOST;
	io_sq->tx_max_header_size = min_t(u32, q->dev->tx_max_header_size, SZ_256);

	/* ena_com_init_io_sq */
	io_sq->dma_addr_bits = (u8)q->dev->dma_addr_bits;
	io_sq->desc_entry_size = sizeof(struct ena_eth_io_tx_desc);
	if (!q->llq) {
		io_sq->desc_addr.virt_addr = q->sq_mem;
	} else {
		io_sq->desc_addr.pbuf_dev_addr = q->sq_mem;
		io_sq->bounce_buf_ctrl.buffer_size = cfg->entry_size;
		io_sq->bounce_buf_ctrl.buffers_num = ORACLE_BOUNCE_BUFFERS;
		io_sq->bounce_buf_ctrl.next_to_use = 0;
		io_sq->bounce_buf_ctrl.base_buffer = q->bounce;
		/* ena_com_config_llq_info */
		io_sq->llq_info.header_location_ctrl = ENA_ADMIN_INLINE_HEADER;
		io_sq->llq_info.desc_stride_ctrl = ENA_ADMIN_MULTIPLE_DESCS_PER_ENTRY;
		io_sq->llq_info.desc_list_entry_size = cfg->entry_size;
		io_sq->llq_info.descs_per_entry = cfg->entry_size / sizeof(struct ena_eth_io_tx_desc);
		io_sq->llq_info.descs_num_before_header = cfg->descs_before_header;
		io_sq->llq_info.max_entries_in_tx_burst = cfg->max_entries_in_tx_burst;
		io_sq->llq_info.disable_meta_caching = cfg->disable_meta_caching;
		io_sq->llq_buf_ctrl.curr_bounce_buf = ena_com_get_next_bounce_buffer(&io_sq->bounce_buf_ctrl);
		memset(io_sq->llq_buf_ctrl.curr_bounce_buf, 0x0, io_sq->llq_info.desc_list_entry_size);
		io_sq->llq_buf_ctrl.descs_left_in_line = io_sq->llq_info.descs_num_before_header;
		io_sq->disable_meta_caching = io_sq->llq_info.disable_meta_caching;
		if (io_sq->llq_info.max_entries_in_tx_burst > 0)
			io_sq->entries_in_tx_burst_left = io_sq->llq_info.max_entries_in_tx_burst;
	}
	io_sq->tail = 0;
	io_sq->next_to_comp = 0;
	io_sq->phase = 1;
	io_sq->db_addr = &q->db_reg;

	/* ena_com_init_io_cq */
	io_cq->cdesc_entry_size_in_bytes = sizeof(struct ena_eth_io_tx_cdesc);
	io_cq->cdesc_addr.virt_addr = q->cq_mem;
	io_cq->phase = 1;
	io_cq->head = 0;

	/* ena_init_io_rings_common, ena_setup_tx_resources */
	q->io_sq = io_sq;
	q->io_cq = io_cq;
	q->ring_size = cfg->depth;
	q->sgl_size = cfg->sgl_size;
	q->tx_max_header_size = (u8)q->dev->tx_max_header_size;
	/* adapter->disable_meta_caching is read from the device only in LLQ mode (ena_probe). */
	q->disable_meta_caching = q->llq && cfg->disable_meta_caching;
	q->bql_limit = cfg->bql_limit;
	for (i = 0; i < cfg->depth; i++)
		q->free_ids[i] = i;
	return q;
}

/* ena_ring_tx_doorbell */
static void oracle_ring_tx_doorbell(struct oracle_txq *q)
{
	ena_com_write_sq_doorbell(q->io_sq);
	q->stats.doorbells++;
}

/* ena_reset_device */
static void oracle_reset_device(struct oracle_txq *q)
{
	q->reset_pending = 1;
	q->stats.resets++;
}

/* ena_tx_csum, from the offload context the caller decided (CHECKSUM_PARTIAL or GSO is "meta valid") */
static void oracle_tx_csum(struct ena_com_tx_ctx *ctx, const struct oracle_pkt *pkt, bool disable_meta_caching)
{
	u32 f = pkt->offload_flags;
	bool valid = pkt->mss ||
		     (f & (ENA_ETH_IO_TX_DESC_TSO_EN_MASK | ENA_ETH_IO_TX_DESC_L4_CSUM_EN_MASK |
			   ENA_ETH_IO_TX_DESC_L3_CSUM_EN_MASK));

	if (valid) {
		ctx->tso_enable = !!(f & ENA_ETH_IO_TX_DESC_TSO_EN_MASK);
		ctx->l4_csum_enable = !!(f & ENA_ETH_IO_TX_DESC_L4_CSUM_EN_MASK);
		ctx->l4_csum_partial = !!(f & ENA_ETH_IO_TX_DESC_L4_CSUM_PARTIAL_MASK);
		ctx->l3_csum_enable = !!(f & ENA_ETH_IO_TX_DESC_L3_CSUM_EN_MASK);
		ctx->df = !!(f & ENA_ETH_IO_TX_DESC_DF_MASK);
		ctx->l3_proto = pkt->l3_proto;
		ctx->l4_proto = pkt->l4_proto;
		ctx->ena_meta.mss = pkt->mss;
		ctx->ena_meta.l3_hdr_len = pkt->l3_hdr_len;
		ctx->ena_meta.l3_hdr_offset = pkt->l3_hdr_off;
		ctx->ena_meta.l4_hdr_len = pkt->l4_hdr_len;
		ctx->meta_valid = 1;
	} else if (disable_meta_caching) {
		memset(&ctx->ena_meta, 0, sizeof(ctx->ena_meta));
		ctx->meta_valid = 1;
	} else {
		ctx->meta_valid = 0;
	}
}

/* ena_start_xmit with ena_check_and_linearize_skb, ena_tx_map_skb and ena_xmit_common inline. The packet's bytes
 * are the pattern nic-model uses (packet_byte): byte k of the packet sent under req_id is (u8)req_id ^ (u8)k. */
int oracle_start_xmit(struct oracle_txq *q, const struct oracle_pkt *pkt, u16 *req_id_out)
{
	struct ena_com_tx_ctx ena_tx_ctx;
	struct oracle_tx_info *tx_info;
	struct ena_com_buf *ena_buf;
	u32 skb_head_len = pkt->head_len, frag_len, k;
	u16 nr_frags = pkt->nr_frags, next_to_use, req_id, header_len, push_len = 0, delta = 0;
	void *push_hdr;
	int rc, nb_hw_desc, i;

	if (q->reset_pending)
		return ORACLE_XMIT_RESET;
	if (q->drv_xoff || q->stack_xoff)
		return ORACLE_XMIT_STOPPED;
	if (nr_frags > ORACLE_MAX_SKB_FRAGS)
		return -EINVAL;

	/* ena_check_and_linearize_skb */
	if (!(nr_frags < q->sgl_size) &&
	    !(nr_frags == q->sgl_size && skb_head_len < q->tx_max_header_size)) {
		q->stats.linearize++;
		nr_frags = 0;
		skb_head_len = pkt->len;
	}

	next_to_use = q->next_to_use;
	req_id = q->free_ids[next_to_use];
	tx_info = &q->tx_info[req_id];
	tx_info->num_of_bufs = 0;

	/* ena_tx_map_skb */
	ena_buf = tx_info->bufs;
	if (q->llq) {
		push_len = min_t(u32, pkt->len, q->tx_max_header_size);
		for (k = 0; k < push_len; k++)
			q->push_buf[k] = (u8)req_id ^ (u8)k;
		push_hdr = q->push_buf;
		header_len = push_len;
		/* skb_header_pointer copies when the linear part is shorter than push_len */
		if (skb_head_len < push_len) {
			q->stats.llq_buffer_copy++;
			delta = push_len - skb_head_len;
		}
	} else {
		push_hdr = NULL;
		header_len = min_t(u32, skb_head_len, q->tx_max_header_size);
	}
	if (skb_head_len > push_len) {
		ena_buf->paddr = oracle_dma_addr(req_id, tx_info->num_of_bufs);
		ena_buf->len = skb_head_len - push_len;
		ena_buf++;
		tx_info->num_of_bufs++;
	}
	for (i = 0; i < nr_frags; i++) {
		frag_len = pkt->frags[i];
		if (unlikely(delta >= frag_len)) {
			delta -= frag_len;
			continue;
		}
		ena_buf->paddr = oracle_dma_addr(req_id, tx_info->num_of_bufs);
		ena_buf->len = frag_len - delta;
		ena_buf++;
		tx_info->num_of_bufs++;
		delta = 0;
	}

	memset(&ena_tx_ctx, 0x0, sizeof(struct ena_com_tx_ctx));
	ena_tx_ctx.ena_bufs = tx_info->bufs;
	ena_tx_ctx.push_header = push_hdr;
	ena_tx_ctx.num_bufs = tx_info->num_of_bufs;
	ena_tx_ctx.req_id = req_id;
	ena_tx_ctx.header_len = header_len;
	oracle_tx_csum(&ena_tx_ctx, pkt, q->disable_meta_caching);

	/* ena_xmit_common */
	if (unlikely(ena_com_is_doorbell_needed(q->io_sq, &ena_tx_ctx)))
		oracle_ring_tx_doorbell(q);
	rc = ena_com_prepare_tx(q->io_sq, &ena_tx_ctx, &nb_hw_desc);
	if (unlikely(rc)) {
		q->stats.prepare_ctx_err++;
		if (rc != -ENOMEM)
			oracle_reset_device(q);
		return rc;
	}
	q->stats.cnt++;
	q->stats.bytes += pkt->len;
	tx_info->tx_descs = nb_hw_desc;
	tx_info->len = pkt->len;
	tx_info->skb = 1;
	q->next_to_use = ORACLE_RING_IDX_NEXT(next_to_use, q->ring_size);

	/* netdev_tx_sent_queue */
	if (q->bql_limit) {
		q->bql_in_flight += pkt->len;
		if (q->bql_in_flight > q->bql_limit)
			q->stack_xoff = 1;
	}

	if (unlikely(!ena_com_sq_have_enough_space(q->io_sq, q->sgl_size + 2))) {
		q->drv_xoff = 1;
		q->stats.queue_stop++;
		if (ena_com_sq_have_enough_space(q->io_sq, ORACLE_TX_WAKEUP_THRESH)) {
			q->drv_xoff = 0;
			q->stats.queue_wakeup++;
		}
	}

	/* netif_xmit_stopped(txq) || !netdev_xmit_more() */
	if (q->drv_xoff || q->stack_xoff || !pkt->xmit_more)
		oracle_ring_tx_doorbell(q);

	*req_id_out = req_id;
	return 0;
}

/* ena_clean_tx_irq. Returns the packets completed; *rc_out: 0, or -EINVAL / -EFAULT when a bad req_id stopped it. */
int oracle_clean_tx_irq(struct oracle_txq *q, u32 budget, int *rc_out)
{
	u16 next_to_clean = q->next_to_clean, req_id = 0;
	u32 total_done = 0;
	u64 tx_bytes = 0;
	int tx_pkts = 0, rc;
	bool above_thresh;

	*rc_out = 0;
	while ((u32)tx_pkts < budget) {
		struct oracle_tx_info *tx_info;

		rc = ena_com_tx_comp_req_id_get(q->io_cq, &req_id);
		if (rc) {
			if (unlikely(rc == -EINVAL)) {
				/* handle_invalid_req_id */
				q->stats.bad_req_id++;
				oracle_reset_device(q);
				*rc_out = rc;
			}
			break;
		}
		/* validate_tx_req_id */
		tx_info = &q->tx_info[req_id];
		if (!tx_info->skb) {
			q->stats.bad_req_id++;
			oracle_reset_device(q);
			*rc_out = -EFAULT;
			break;
		}
		tx_info->skb = 0;
		tx_bytes += tx_info->len;
		tx_pkts++;
		total_done += tx_info->tx_descs;
		q->free_ids[next_to_clean] = req_id;
		next_to_clean = ORACLE_RING_IDX_NEXT(next_to_clean, q->ring_size);
	}
	q->next_to_clean = next_to_clean;
	ena_com_comp_ack(q->io_sq, total_done);
	ena_com_update_dev_comp_head(q->io_cq);

	/* netdev_tx_completed_queue */
	if (q->bql_limit && tx_bytes) {
		q->bql_in_flight = q->bql_in_flight > tx_bytes ? q->bql_in_flight - tx_bytes : 0;
		if (q->bql_in_flight <= q->bql_limit)
			q->stack_xoff = 0;
	}

	above_thresh = ena_com_sq_have_enough_space(q->io_sq, ORACLE_TX_WAKEUP_THRESH);
	if (unlikely(q->drv_xoff && above_thresh)) {
		above_thresh = ena_com_sq_have_enough_space(q->io_sq, ORACLE_TX_WAKEUP_THRESH);
		if (q->drv_xoff && above_thresh) {
			q->drv_xoff = 0;
			q->stats.queue_wakeup++;
		}
	}
	return tx_pkts;
}

u8 *oracle_sq_mem(struct oracle_txq *q, size_t *len)
{
	*len = q->sq_len;
	return q->sq_mem;
}

u8 *oracle_cq_mem(struct oracle_txq *q, size_t *len)
{
	*len = (size_t)q->ring_size * sizeof(struct ena_eth_io_tx_cdesc);
	return q->cq_mem;
}

void oracle_state(const struct oracle_txq *q, struct oracle_state *out)
{
	*out = q->stats;
	out->tail = q->io_sq->tail;
	out->next_to_comp = q->io_sq->next_to_comp;
	out->sq_phase = q->io_sq->phase;
	out->db_reg = q->db_reg;
	out->cq_head = q->io_cq->head;
	out->cq_phase = q->io_cq->phase;
	out->next_to_use = q->next_to_use;
	out->next_to_clean = q->next_to_clean;
	out->drv_xoff = q->drv_xoff;
	out->stack_xoff = q->stack_xoff;
	out->reset_pending = q->reset_pending;
	out->entries_in_tx_burst_left = q->io_sq->entries_in_tx_burst_left;
}

/* ena_com_rx_pkt over a completion ring the caller fills: one RX queue pair (ena_com_init_io_cq with the base
 * completion size). */
struct oracle_rx_stats {
	u64 cnt, bytes, rx_copybreak_pkt, csum_good, csum_bad, csum_unchecked, bad_desc_num, bad_req_id, resets;
};

struct oracle_rxq {
	struct ena_com_dev *dev;
	u8 *cq_mem;
	u16 depth;
	struct oracle_rx_stats stats;
};

struct oracle_rx_result {
	s32 rc;
	u16 descs;
	u16 pad;
	u32 hash;
	u16 lens[ORACLE_PKT_MAX_BUFS];
	u16 req_ids[ORACLE_PKT_MAX_BUFS];
	u8 l3_proto, l4_proto, l3_csum_err, l4_csum_err, l4_csum_checked, frag, pkt_offset, pad2;
	u16 cq_head, sq_next_to_comp, cur_rx_pkt_cdesc_count, cur_rx_pkt_cdesc_start_idx;
	u8 cq_phase, pad3[7];
};

struct oracle_rxq *oracle_rxq_new(u16 depth)
{
	struct oracle_rxq *q;
	struct ena_com_io_cq *io_cq;
	struct ena_com_io_sq *io_sq;

	if (depth < 2 || (depth & (depth - 1)))
		return NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->dev = calloc(1, sizeof(*q->dev));
	q->cq_mem = calloc(depth, sizeof(struct ena_eth_io_rx_cdesc_base));
	if (!q->dev || !q->cq_mem) {
		free(q->dev);
		free(q->cq_mem);
		free(q);
		return NULL;
	}
	q->depth = depth;
	io_cq = &q->dev->io_cq_queues[1];
	io_sq = &q->dev->io_sq_queues[1];
	io_cq->qid = 1;
	io_cq->q_depth = depth;
	io_cq->direction = ENA_COM_IO_QUEUE_DIRECTION_RX;
	io_cq->cdesc_entry_size_in_bytes = sizeof(struct ena_eth_io_rx_cdesc_base);
	io_cq->cdesc_addr.virt_addr = q->cq_mem;
	io_cq->phase = 1;
	io_sq->qid = 1;
	io_sq->q_depth = depth;
	io_sq->direction = ENA_COM_IO_QUEUE_DIRECTION_RX;
	io_sq->phase = 1;
	return q;
}

void oracle_rxq_free(struct oracle_rxq *q)
{
	if (!q)
		return;
	free(q->dev);
	free(q->cq_mem);
	free(q);
}

u8 *oracle_rxq_cq_mem(struct oracle_rxq *q, size_t *len)
{
	*len = (size_t)q->depth * sizeof(struct ena_eth_io_rx_cdesc_base);
	return q->cq_mem;
}

/* One call of ena_com_rx_pkt as ena_clean_rx_irq makes it (max_bufs = sgl_size). */
void oracle_rx_pkt(struct oracle_rxq *q, u16 max_bufs, struct oracle_rx_result *out)
{
	struct ena_com_rx_buf_info bufs[ORACLE_PKT_MAX_BUFS];
	struct ena_com_rx_ctx ctx;
	struct ena_com_io_cq *io_cq = &q->dev->io_cq_queues[1];
	struct ena_com_io_sq *io_sq = &q->dev->io_sq_queues[1];
	int i;

	memset(&ctx, 0, sizeof(ctx));
	memset(bufs, 0, sizeof(bufs));
	memset(out, 0, sizeof(*out));
	ctx.ena_bufs = bufs;
	ctx.max_bufs = max_bufs > ORACLE_PKT_MAX_BUFS ? ORACLE_PKT_MAX_BUFS : max_bufs;
	out->rc = ena_com_rx_pkt(io_cq, io_sq, &ctx);
	out->descs = ctx.descs;
	for (i = 0; i < ORACLE_PKT_MAX_BUFS; i++) {
		out->lens[i] = bufs[i].len;
		out->req_ids[i] = bufs[i].req_id;
	}
	out->hash = ctx.hash;
	out->l3_proto = ctx.l3_proto;
	out->l4_proto = ctx.l4_proto;
	out->l3_csum_err = ctx.l3_csum_err;
	out->l4_csum_err = ctx.l4_csum_err;
	out->l4_csum_checked = ctx.l4_csum_checked;
	out->frag = ctx.frag;
	out->pkt_offset = ctx.pkt_offset;
	out->cq_head = io_cq->head;
	out->cq_phase = io_cq->phase;
	out->sq_next_to_comp = io_sq->next_to_comp;
	out->cur_rx_pkt_cdesc_count = io_cq->cur_rx_pkt_cdesc_count;
	out->cur_rx_pkt_cdesc_start_idx = io_cq->cur_rx_pkt_cdesc_start_idx;
}

/* ena_rx_checksum with NETIF_F_RXCSUM on */
static void oracle_rx_checksum(struct oracle_rxq *q, const struct oracle_rx_result *r)
{
	if (r->frag)
		return;
	if (r->l3_proto == ENA_ETH_IO_L3_PROTO_IPV4 && r->l3_csum_err) {
		q->stats.csum_bad++;
		return;
	}
	if (r->l4_proto == ENA_ETH_IO_L4_PROTO_TCP || r->l4_proto == ENA_ETH_IO_L4_PROTO_UDP) {
		if (r->l4_csum_err)
			q->stats.csum_bad++;
		else if (r->l4_csum_checked)
			q->stats.csum_good++;
		else
			q->stats.csum_unchecked++;
	}
}

/* One turn of the loop of ena_clean_rx_irq (buffers all posted, no XDP): ena_com_rx_pkt, then the counters and,
 * on an error, the reset of its error path. Returns 1 for a packet, 0 for none, -1 for an error. */
int oracle_clean_rx_one(struct oracle_rxq *q, u16 max_bufs, u16 rx_copybreak, struct oracle_rx_result *r)
{
	u32 len = 0;
	int i;

	oracle_rx_pkt(q, max_bufs, r);
	if (unlikely(r->rc)) {
		if (r->rc == -ENOSPC)
			q->stats.bad_desc_num++;
		else if (r->rc != -EFAULT)
			q->stats.bad_req_id++;
		q->stats.resets++;
		return -1;
	}
	if (r->descs == 0)
		return 0;
	for (i = 0; i < r->descs && i < ORACLE_PKT_MAX_BUFS; i++)
		len += r->lens[i];
	oracle_rx_checksum(q, r);
	if (r->lens[0] <= rx_copybreak)
		q->stats.rx_copybreak_pkt++;
	q->stats.bytes += len;
	q->stats.cnt++;
	return 1;
}

void oracle_rx_stats(const struct oracle_rxq *q, struct oracle_rx_stats *out)
{
	*out = q->stats;
}
