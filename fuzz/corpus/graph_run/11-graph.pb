
p
in0Const*
dtype0*U
valueLBJ"<ïŽ2?ê˜B@ãÿ{@šÀž¿> ‚@˜"@~‰Ã¿ÞÚ¿?òõR>à¼X@ÃjYÀzüœ@ÉP@¡ƒ@+-º>

op
LogSoftmaxin0*
T0