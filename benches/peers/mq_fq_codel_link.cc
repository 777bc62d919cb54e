// The ns-3 side of the "simulator vs ns-3" peer benchmark (issue 13): N open-loop UDP-like flows from one host
// through an 8-queue mq with fq_codel children and one rate-limited link, on ns-3's event core and its own
// traffic-control objects (MqQueueDisc, FqCoDelQueueDisc and the CoDelQueueDisc it creates per flow).
//
// Written for txqlab against ns-3's public API (Debian's libns3-dev 3.37); no ns-3 code is copied here. The
// Rust twin is `mq_link` in benches/benches/peers.rs: same workload, same event order, same link; see
// benches/peers/README.md for why this is the like-for-like comparison.
//
// Output: `key value` lines (the workload signature, the outcome, the timing), read by benches/peers/run.sh.

#include "ns3/codel-queue-disc.h"
#include "ns3/core-module.h"
#include "ns3/fq-codel-queue-disc.h"
#include "ns3/mq-queue-disc.h"
#include "ns3/net-device-queue-interface.h"
#include "ns3/packet.h"
#include "ns3/queue-disc.h"
#include "ns3/queue-item.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

using namespace ns3;

namespace
{

// The workload. The Rust twin has the same constants; run.sh refuses to compare if the signatures differ.
constexpr uint32_t QUEUES = 8;
constexpr uint32_t FLOWS = 32;
constexpr uint32_t PKT_BYTES = 1500;
constexpr uint64_t LINK_BPS = 100000000;                                // 100 Mbit/s
constexpr uint64_t TX_NS = PKT_BYTES * 8ULL * 1000000000ULL / LINK_BPS; // 120 us per packet
constexpr uint64_t BASE_PERIOD_NS = 15710000;                           // flow f sends every BASE/(1 + f % 8)
constexpr uint64_t DURATION_NS = 20000000000ULL;                        // 20 s simulated

uint64_t
FlowPeriod(uint32_t f)
{
    return BASE_PERIOD_NS / (1 + f % QUEUES);
}

// Per-flow xorshift64 jitter: each gap is period * [3/4, 5/4).
uint64_t
NextGap(uint64_t& x, uint64_t period)
{
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return period - period / 4 + x % (period / 2);
}

// A queue-disc item that carries its flow's fq_codel bucket as its hash (so both sides put each flow in the same
// bucket with no collisions) and the time it was handed to the qdisc.
class PeerItem : public QueueDiscItem
{
  public:
    PeerItem(Ptr<Packet> p, uint32_t bucket, uint64_t enqNs)
        : QueueDiscItem(p, Address(), 0),
          m_bucket(bucket),
          m_enqNs(enqNs)
    {
    }

    void AddHeader() override
    {
    }

    bool Mark() override
    {
        return false; // not ECN-capable: CoDel drops
    }

    uint32_t Hash(uint32_t) const override
    {
        return m_bucket;
    }

    uint64_t EnqNs() const
    {
        return m_enqNs;
    }

  private:
    uint32_t m_bucket;
    uint64_t m_enqNs;
};

struct Run
{
    Ptr<MqQueueDisc> mq;
    std::vector<Ptr<QueueDisc>> child;
    std::vector<uint64_t> rng;
    bool linkBusy = false;
    uint32_t lastQueue = QUEUES - 1;
    uint64_t arrivals = 0;
    uint64_t sent = 0;
    std::vector<uint64_t> sentPerQueue = std::vector<uint64_t>(QUEUES, 0);
    std::vector<uint64_t> sojournNs;
};

Run* g_run = nullptr;

void LinkDone();

// The link: when idle, serve the TX queues round robin, one packet per turn (a device draining its rings in
// turn), each packet taking TX_NS on the wire.
void
Kick()
{
    Run& r = *g_run;
    if (r.linkBusy)
    {
        return;
    }
    uint64_t now = Simulator::Now().GetNanoSeconds();
    for (uint32_t i = 1; i <= QUEUES; i++)
    {
        uint32_t q = (r.lastQueue + i) % QUEUES;
        Ptr<QueueDiscItem> item = r.child[q]->Dequeue();
        if (item)
        {
            Ptr<PeerItem> p = StaticCast<PeerItem>(item);
            r.sojournNs.push_back(now - p->EnqNs());
            r.sent++;
            r.sentPerQueue[q]++;
            r.lastQueue = q;
            r.linkBusy = true;
            Simulator::Schedule(NanoSeconds(TX_NS), &LinkDone);
            return;
        }
    }
}

void
LinkDone()
{
    g_run->linkBusy = false;
    Kick();
}

void
Arrival(uint32_t f)
{
    Run& r = *g_run;
    uint64_t now = Simulator::Now().GetNanoSeconds();
    r.arrivals++;
    Ptr<PeerItem> item = Create<PeerItem>(Create<Packet>(PKT_BYTES), f, now);
    r.child[f % QUEUES]->Enqueue(item);
    uint64_t gap = NextGap(r.rng[f], FlowPeriod(f));
    if (now + gap < DURATION_NS)
    {
        Simulator::Schedule(NanoSeconds(gap), &Arrival, f);
    }
    Kick();
}

// mq with one fq_codel child per TX queue, assembled the way TrafficControlHelper assembles it (root, classes,
// children), on a NetDeviceQueueInterface with QUEUES transmission queues and no device behind it: the link is
// ours on both sides.
void
Build(Run& r)
{
    Ptr<NetDeviceQueueInterface> ndqi =
        CreateObjectWithAttributes<NetDeviceQueueInterface>("NTxQueues", UintegerValue(QUEUES));
    r.mq = CreateObject<MqQueueDisc>();
    r.mq->SetNetDeviceQueueInterface(ndqi);
    for (uint32_t q = 0; q < QUEUES; q++)
    {
        Ptr<FqCoDelQueueDisc> fq = CreateObjectWithAttributes<FqCoDelQueueDisc>(
            "UseEcn", BooleanValue(false),
            "Interval", StringValue("100ms"),
            "Target", StringValue("5ms"),
            "MaxSize", QueueSizeValue(QueueSize("10240p")),
            "Flows", UintegerValue(1024),
            "DropBatchSize", UintegerValue(64));
        fq->SetQuantum(1514); // the kernel's default: device MTU + Ethernet header
        fq->SetNetDeviceQueueInterface(ndqi);
        Ptr<QueueDiscClass> c = CreateObject<QueueDiscClass>();
        c->SetQueueDisc(fq);
        r.mq->AddQueueDiscClass(c);
        r.child.push_back(fq);
    }
    r.mq->Initialize();
    r.rng.resize(FLOWS);
    for (uint32_t f = 0; f < FLOWS; f++)
    {
        r.rng[f] = 0x9E3779B97F4A7C15ULL * (f + 1);
        // First packet at a jittered offset within the flow's first period.
        uint64_t first = NextGap(r.rng[f], FlowPeriod(f)) % FlowPeriod(f);
        Simulator::Schedule(NanoSeconds(first), &Arrival, f);
    }
}

// Nanoseconds this thread has spent on a CPU (the first field of /proc/thread-self/schedstat): the per-core
// measure, which the load of other processes does not inflate. The Rust twin reads the same file.
uint64_t
OnCpuNs()
{
    std::ifstream f("/proc/thread-self/schedstat");
    uint64_t ns = 0;
    if (!(f >> ns))
    {
        std::fprintf(stderr, "cannot read /proc/thread-self/schedstat\n");
        std::exit(2);
    }
    return ns;
}

uint64_t
Pct(const std::vector<uint64_t>& sorted, uint32_t per_mille)
{
    if (sorted.empty())
    {
        return 0;
    }
    // Nearest rank: the smallest value with at least per_mille/1000 of the samples at or below it.
    uint64_t n = sorted.size();
    uint64_t rank = (n * per_mille + 999) / 1000;
    return sorted[rank == 0 ? 0 : rank - 1];
}

} // namespace

int
main(int argc, char** argv)
{
    int reps = argc > 1 ? std::atoi(argv[1]) : 7;
    std::string scheduler = argc > 2 ? argv[2] : "ns3::MapScheduler";
    if (reps < 1 || argc > 3)
    {
        std::fprintf(stderr, "usage: %s [repetitions >= 1] [ns-3 scheduler type, default ns3::MapScheduler]\n", argv[0]);
        return 2;
    }
    std::printf("workload queues=%u flows=%u pkt=%u link_bps=%" PRIu64 " base_period_ns=%" PRIu64
                " duration_ns=%" PRIu64 "\n",
                QUEUES, FLOWS, PKT_BYTES, LINK_BPS, BASE_PERIOD_NS, DURATION_NS);
    double best = 1e300;
    double bestCpu = 1e300;
    for (int rep = 0; rep < reps; rep++)
    {
        uint64_t c0 = OnCpuNs();
        auto t0 = std::chrono::steady_clock::now();
        ObjectFactory sched;
        sched.SetTypeId(scheduler);
        Simulator::SetScheduler(sched);
        Run r;
        g_run = &r;
        r.sojournNs.reserve(DURATION_NS / TX_NS + 16);
        Build(r);
        Simulator::Stop(NanoSeconds(DURATION_NS));
        Simulator::Run();
        auto t1 = std::chrono::steady_clock::now();
        uint64_t c1 = OnCpuNs();
        double secs = std::chrono::duration<double>(t1 - t0).count();
        double cpu = double(c1 - c0) / 1e9;
        best = std::min(best, secs);
        bestCpu = std::min(bestCpu, cpu);
        std::printf("run %d wall_s %.6f cpu_s %.6f arrivals %" PRIu64 "\n", rep, secs, cpu, r.arrivals);
        if (rep == reps - 1)
        {
            uint64_t drops = 0, overlimit = 0, codel = 0, backlog = 0;
            for (auto& c : r.child)
            {
                const QueueDisc::Stats& s = c->GetStats();
                drops += s.nTotalDroppedPackets;
                // Drops by the per-flow CoDel children reach fq_codel's counters with this prefix
                // (QueueDisc::AddQueueDiscClass).
                overlimit += s.GetNDroppedPackets(FqCoDelQueueDisc::OVERLIMIT_DROP);
                codel += s.GetNDroppedPackets(std::string("(Dropped by child queue disc) ") +
                                              CoDelQueueDisc::TARGET_EXCEEDED_DROP);
                backlog += c->GetNPackets();
            }
            std::sort(r.sojournNs.begin(), r.sojournNs.end());
            std::printf("arrivals %" PRIu64 "\n", r.arrivals);
            std::printf("sent %" PRIu64 "\n", r.sent);
            std::printf("drops %" PRIu64 "\n", drops);
            std::printf("drops_overlimit %" PRIu64 "\n", overlimit);
            std::printf("drops_codel %" PRIu64 "\n", codel);
            std::printf("backlog_end %" PRIu64 "\n", backlog);
            std::printf("sojourn_p50_ns %" PRIu64 "\n", Pct(r.sojournNs, 500));
            std::printf("sojourn_p90_ns %" PRIu64 "\n", Pct(r.sojournNs, 900));
            std::printf("sojourn_p99_ns %" PRIu64 "\n", Pct(r.sojournNs, 990));
            for (uint32_t q = 0; q < QUEUES; q++)
            {
                std::printf("share_q%u %.4f\n", q, r.sent ? double(r.sentPerQueue[q]) / double(r.sent) : 0.0);
            }
            std::printf("packets_per_wall_s %.0f\n", double(r.arrivals) / best);
            std::printf("best_wall_s %.6f\n", best);
            std::printf("packets_per_cpu_s %.0f\n", double(r.arrivals) / bestCpu);
            std::printf("best_cpu_s %.6f\n", bestCpu);
            std::printf("scheduler %s\n", scheduler.c_str());
            std::printf("reps %d\n", reps);
        }
        Simulator::Destroy();
        g_run = nullptr;
    }
    return 0;
}
