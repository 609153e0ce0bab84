// bench/argodsm_compare.cpp: ArgoDSM's side of the comparison of issue 19 (README, "Faults
// under uffd"), by the same work as bench_fault's read_fault (prefetch 1) and bench_sync's
// lock_increment.  ArgoDSM is not in Debian, so make bench does not build this; with an
// ArgoDSM checkout built in ARGO/build (cmake with CC=mpicc CXX=mpicxx, its qd submodule):
//   mpicxx -O2 -std=c++17 -IARGO/src -IARGO/build/config -IARGO/submodules/qd \
//     bench/argodsm_compare.cpp -LARGO/build/lib -largo -largobackend-mpi -lnuma \
//     -Wl,-rpath,ARGO/build/lib -o argodsm_compare
//   mpirun -np 2 --bind-to core -x ARGO_LOAD_SIZE=1 -x ARGO_PRINT_STATISTICS=0 ./argodsm_compare
// Prints, on rank 0, medians of 5 runs: the cold read fault a page (rank 0 reads a byte of each
// of 2048 pages homed on rank 1 that it never touched; ARGO_LOAD_SIZE=1: no prefetch), and
// us per lock + ++ of a counter homed on rank 1 + unlock, both ranks at once, with ArgoDSM's
// global test-and-set lock and its cohort lock, and the lock and unlock alone.
#include "argo.hpp"
#include "synchronization/global_tas_lock.hpp"
#include "synchronization/cohort_lock.hpp"
#include <mpi.h>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <algorithm>
#include <vector>
static double now(){timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e6+t.tv_nsec/1e3;}
static double median(std::vector<double> v){std::sort(v.begin(),v.end());return v[v.size()/2];}
template<class L> static void lockbench(L &lock, uint64_t *counter, int me, const char *name){
  std::vector<double> li, lb;
  long n=1000;
  for(int k=0;k<5;k++){
    argo::barrier();
    double t0=now(); for(long i=0;i<n;i++){lock.lock(); (*counter)++; lock.unlock();} li.push_back((now()-t0)/n);
    argo::barrier();
    t0=now(); for(long i=0;i<n;i++){lock.lock(); lock.unlock();} lb.push_back((now()-t0)/n);
  }
  argo::barrier();
  if(me==0) printf("argo %s lock_increment_us %.2f lock_alone_us %.2f counter %lu\n",name,median(li),median(lb),(unsigned long)*counter);
}
int main(){
  argo::init(512ul<<20, 256ul<<20);
  int me=argo::node_id();
  const size_t P=4096, total=(512ul<<20)-(64ul<<20);
  char *a=argo::conew_array<char>(total);
  // the counter, the flag: on pages of their own; the counter homed on rank 1
  size_t first1=0; while(argo::get_homenode(a+first1)!=1) first1+=P;
  uint64_t *counter=(uint64_t*)(a+first1);            // page first1, homed on 1
  size_t *flag=(size_t*)a; *flag=0; if(me==0) *flag=0; // page 0, homed on 0
  argo::barrier();
  // read faults: 5 reps of 2048 fresh pages homed on rank 1
  std::vector<double> rf;
  size_t pages=2048;
  for(int k=0;k<5;k++){
    char *seg=a+first1+P*(1+k*pages);
    argo::barrier();
    if(me==0){volatile char s=0;double t0=now();for(size_t i=0;i<pages;i++)s+=seg[i*P];rf.push_back((now()-t0)/pages);}
    argo::barrier();
  }
  if(me==0) printf("argo read_fault_us %.2f\n",median(rf));
  // lock + ++counter + unlock, both ranks
  { argo::globallock::global_tas_lock lock(flag); lockbench(lock, counter, me, "tas"); }
  { argo::globallock::cohort_lock *c = new argo::globallock::cohort_lock(); lockbench(*c, counter, me, "cohort"); delete c; }
  argo::finalize();
}
