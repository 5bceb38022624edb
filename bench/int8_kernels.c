/* int8_kernels: what glint's int8 convolution step costs in oneDNN alone, on
 * YOLOv8n-like 3x3 shapes: the u8 x s8 convolution with and without a src zero
 * point (which kernel oneDNN picks for each) and the quantizing f32 -> u8
 * reorder in front of it. Prints ms per call (mean of 50 calls after 5
 * warm-up ones). Build: cmake target int8_kernels; run with OMP_NUM_THREADS. */
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
int main(void) {
    dnnl_engine_t eng; dnnl_engine_create(&eng, dnnl_cpu, 0);
    dnnl_stream_t str; dnnl_stream_create(&str, eng, dnnl_stream_default_flags);
    int shapes[][3] = {{32,160,32},{64,80,64},{128,40,128},{256,20,256}};
    for (int si=0; si<4; si++) for (int zp=0; zp<2; zp++) {
        int IC=shapes[si][0], H=shapes[si][1], OC=shapes[si][2];
        dnnl_memory_desc_t src, wei, dst, xf;
        dnnl_dims_t sd={1,IC,H,H}, wd={OC,IC,3,3}, dd={1,OC,H,H};
        dnnl_memory_desc_init_by_tag(&src,4,sd,dnnl_u8,dnnl_nhwc);
        dnnl_memory_desc_init_by_tag(&xf,4,sd,dnnl_f32,dnnl_nhwc);
        dnnl_memory_desc_init_by_tag(&wei,4,wd,dnnl_s8,dnnl_format_tag_any);
        dnnl_memory_desc_init_by_tag(&dst,4,dd,dnnl_f32,dnnl_nhwc);
        dnnl_dims_t s={1,1}, d={0,0}, p={1,1};
        dnnl_convolution_desc_t cd;
        dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src,&wei,NULL,&dst,s,d,p,p);
        dnnl_primitive_attr_t a; dnnl_primitive_attr_create(&a);
        float sc=0.01f; dnnl_primitive_attr_set_output_scales(a,1,0,&sc);
        int rt = DNNL_RUNTIME_S32_VAL; if (zp) dnnl_primitive_attr_set_zero_points(a, DNNL_ARG_SRC, 1, 0, &rt);
        dnnl_post_ops_t po; dnnl_post_ops_create(&po); dnnl_post_ops_append_eltwise(po,1,dnnl_eltwise_swish,1,0); dnnl_primitive_attr_set_post_ops(a,po);
        dnnl_primitive_desc_t pd; dnnl_primitive_desc_create(&pd,&cd,a,eng,NULL);
        const char *impl; dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str,0,&impl);
        const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        dnnl_memory_t mx,mw,my,mz,mxf; int32_t z=100;
        dnnl_memory_create(&mx,&src,eng,DNNL_MEMORY_ALLOCATE); dnnl_memory_create(&mw,wmd,eng,DNNL_MEMORY_ALLOCATE);
        dnnl_memory_create(&my,&dst,eng,DNNL_MEMORY_ALLOCATE); dnnl_memory_create(&mxf,&xf,eng,DNNL_MEMORY_ALLOCATE);
        dnnl_memory_desc_t zmd; dnnl_dims_t one={1}; dnnl_memory_desc_init_by_tag(&zmd,1,one,dnnl_s32,dnnl_x); dnnl_memory_create(&mz,&zmd,eng,&z);
        dnnl_primitive_t cp; dnnl_primitive_create(&cp,pd);
        /* quantizing reorder */
        dnnl_primitive_attr_t ra; dnnl_primitive_attr_create(&ra); float inv=10.f; dnnl_primitive_attr_set_output_scales(ra,1,0,&inv);
        dnnl_primitive_attr_set_zero_points(ra, DNNL_ARG_DST, 1, 0, &rt);
        dnnl_primitive_desc_t rpd; dnnl_reorder_primitive_desc_create(&rpd,&xf,eng,&src,eng,ra); dnnl_primitive_t rp; dnnl_primitive_create(&rp,rpd);
        const char *rimpl; dnnl_primitive_desc_query(rpd, dnnl_query_impl_info_str,0,&rimpl);
        dnnl_exec_arg_t ca[4]={{DNNL_ARG_SRC,mx},{DNNL_ARG_WEIGHTS,mw},{DNNL_ARG_DST,my},{DNNL_ARG_ATTR_ZERO_POINTS|DNNL_ARG_SRC,mz}};
        dnnl_exec_arg_t qa[3]={{DNNL_ARG_FROM,mxf},{DNNL_ARG_TO,mx},{DNNL_ARG_ATTR_ZERO_POINTS|DNNL_ARG_TO,mz}};
        for (int i=0;i<5;i++){dnnl_primitive_execute(cp,str,zp?4:3,ca);dnnl_primitive_execute(rp,str,3,qa);} dnnl_stream_wait(str);
        double t0=now(); for(int i=0;i<50;i++) dnnl_primitive_execute(cp,str,zp?4:3,ca); dnnl_stream_wait(str); double tc=(now()-t0)/50;
        t0=now(); for(int i=0;i<50;i++) dnnl_primitive_execute(rp,str,3,qa); dnnl_stream_wait(str); double tr=(now()-t0)/50;
        printf("%3d@%3d->%3d zp=%d conv %.3f ms (%s) quant %.3f ms (%s)\n",IC,H,OC,zp,tc,impl,tr,rimpl);
    }
    return 0;
}
