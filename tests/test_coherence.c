typedef int dummy_t;
