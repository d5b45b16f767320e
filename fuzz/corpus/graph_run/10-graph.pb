
p
in0Const*
dtype0*U
valueLBJ"<?æˆ@‹oÀ¬Àéø)ÀjE?ÂÄ^ÀZv,Àl:q@-¦Ú?Ï–Û?lÖô?Oê—@1•@¹*@b×÷¾

opSoftmaxin0*
T0